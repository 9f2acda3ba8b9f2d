"""`app.alerts`: the channels, and the subscriber that turns typed events into alerts.

An event is judged where it is published (a worker's thread or loop), but sending happens on one
background thread per process: a slow SMTP server never holds a job. Before sending, the alert is
claimed in the store for its kind, subject and throttle window: one alert per connection and
kind per window, however many processes saw the breaker open.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from ..errors import ConfigurationError
from ..events import Event
from ..store.alerts import AlertStore, SentAlert
from .channels import Channel, EmailChannel, WebhookChannel
from .core import DEFAULT_THROTTLE, Alert, alert_for, window_start
from .digest import DIGEST_TASK, WEEK, digest_alert, group_errors

log = structlog.get_logger("conveyor.alerts")


@dataclass(frozen=True)
class TestResult:
    channel: str
    ok: bool
    error: str | None


class AlertRegistry:
    def __init__(
        self,
        store: Callable[[], AlertStore],
        subscribe: Callable[[Callable[[Event], object]], object],
        register_task: Callable[..., object],
        failed_jobs: Callable[[float], list[Any]],
        throttle: float = DEFAULT_THROTTLE,
    ) -> None:
        self._store = store
        self._subscribe = subscribe
        self._register_task = register_task
        self._failed_jobs = failed_jobs  # dead and retrying jobs that failed since a time
        self.dashboard_url: str | None = None  # the digest links to it when set
        # False: a week without errors sends no digest ("mail if any errors were reported").
        self.digest_when_empty = True
        self.throttle = throttle
        self.channels: list[Channel] = []
        self._outbox: queue.Queue[Alert] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def email(self, smtp: str, sender: str, to: str | list[str]) -> EmailChannel:
        addresses = tuple([to] if isinstance(to, str) else to)
        channel = EmailChannel(smtp, sender, addresses, name=f"email-{len(self.channels)}")
        self._add(channel)
        return channel

    def webhook(self, url: str) -> WebhookChannel:
        channel = WebhookChannel(url, name=f"webhook-{len(self.channels)}")
        self._add(channel)
        return channel

    def _add(self, channel: Channel) -> None:
        if not self.channels:
            self._subscribe(self.on_event)
            # The built-in Monday 10:00 schedule enqueues it; it exists once there is a channel.
            self._register_task(self._digest_task, name=DIGEST_TASK, max_attempts=3)
        self.channels.append(channel)

    def _digest_task(self) -> dict[str, int]:
        return self.send_digest()

    def send_digest(self, now: float | None = None, period: float = WEEK) -> dict[str, int]:
        """Send the errors of the last `period` to every channel now; the counts sent (`failed`:
        channels that failed; nothing is sent for no errors unless `digest_when_empty`)."""
        until = time.time() if now is None else now
        since = until - period
        groups = group_errors(self._failed_jobs(since), since, until)
        if not groups and not self.digest_when_empty:
            return {"groups": 0, "errors": 0, "failed": 0}
        alert = digest_alert(groups, since, until, self.dashboard_url)
        failed = [c.name for c in self.channels if self._send(c, alert) is not None]
        return {
            "groups": len(groups),
            "errors": sum(g.count for g in groups),
            "failed": len(failed),
        }

    def on_event(self, event: Event) -> None:
        alert = alert_for(event)
        if alert is not None:
            self.raise_alert(alert)

    def raise_alert(self, alert: Alert, now: float | None = None) -> bool:
        """Queue the alert for sending unless this window already has it; True if queued."""
        at = time.time() if now is None else now
        claimed = self._store().claim_alert(
            alert.kind, alert.subject, window_start(at, self.throttle), at, alert.text
        )
        if claimed:
            self._outbox.put(alert)
            self._start_sender()
        return claimed

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send_forever, name="conveyor-alerts", daemon=True
                )
                self._sender.start()

    def _send_forever(self) -> None:
        while True:
            alert = self._outbox.get()
            for channel in list(self.channels):
                self._send(channel, alert)
            self._outbox.task_done()

    def _send(self, channel: Channel, alert: Alert) -> str | None:
        try:
            channel.send(alert)
        except Exception as error:  # an alert channel down never breaks the worker
            log.warning("alert.failed", channel=channel.name, kind=alert.kind, error=str(error))
            return f"{type(error).__name__}: {error}"
        log.info("alert.sent", channel=channel.name, kind=alert.kind, subject=alert.subject)
        return None

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the queued alerts were sent (tests, and a process about to exit)."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def test(self, channel: int | None = None) -> list[TestResult]:
        """Send a test alert now, to every channel or one (by index), not throttled."""
        if not self.channels:
            raise ConfigurationError("no alert channels: add one with app.alerts.email/webhook")
        if channel is not None and not 0 <= channel < len(self.channels):
            raise ConfigurationError(
                f"no alert channel {channel}: the channels are 0 to {len(self.channels) - 1}"
            )
        chosen = self.channels if channel is None else [self.channels[channel]]
        alert = Alert("test", "test", "test alert", "A test alert from `conveyor alerts test`.")
        return [TestResult(c.name, (error := self._send(c, alert)) is None, error) for c in chosen]

    def recent(self, limit: int = 50) -> list[SentAlert]:
        return self._store().recent_alerts(limit)
