"""`app.alerts`: the channels, and the subscriber that turns typed events into alerts.

An event is judged where it is published (a worker's thread or loop), but the store and the
channels are used on one background thread per process: a slow SMTP server or database never
holds a job. Before sending, the alert is claimed in the store for its kind, subject and throttle
window: one alert per connection and kind per window, however many processes saw the breaker
open. A process remembers what it claimed or lost in this window, so a connection answering 401
to every request costs one store write per window, not one per request.

Dead-letter growth (`dead_letter_threshold`) is counted in the store, so across processes: a
JobDead event asks for one count `DEAD_CHECK_INTERVAL` seconds later (the worker writes the
outcome after publishing the event), and the deaths meanwhile share that count.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from ..durations import parse_duration
from ..errors import ConfigurationError
from ..events import Event, JobDead
from ..store.alerts import AlertStore, SentAlert
from .channels import Channel, EmailChannel, WebhookChannel
from .core import (
    DEFAULT_THROTTLE,
    Alert,
    alert_for,
    alert_kinds,
    dead_letter_alert,
    window_start,
)
from .digest import DIGEST_TASK, WEEK, digest_alert, group_errors

log = structlog.get_logger("conveyor.alerts")
DEAD_CHECK_INTERVAL = 2.0  # seconds from a death to its count; deaths meanwhile share it


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
        dead_since: Callable[[float, int], int] | None = None,
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
        self._dead_since = dead_since  # how many jobs died since a time, counted up to a cap
        self.dead_letters: tuple[int, float] | None = None  # (more than N, within s)
        self.dead_check_interval = DEAD_CHECK_INTERVAL
        self._dead_timer: threading.Timer | None = None
        self._seen: dict[tuple[str, str], float] = {}  # (kind, subject): window claimed or lost
        self._outbox: queue.Queue[Callable[[], object]] = queue.Queue()
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def email(
        self, smtp: str, sender: str, to: str | list[str], kinds: Iterable[str] | None = None
    ) -> EmailChannel:
        """An e-mail channel; `kinds`: only these alerts (`core.ALERT_KINDS`), else every one."""
        addresses = tuple([to] if isinstance(to, str) else to)
        only = alert_kinds(kinds)
        name = f"email-{len(self.channels)}"
        channel = EmailChannel(smtp, sender, addresses, name=name, kinds=only)
        self._add(channel)
        return channel

    def webhook(self, url: str, kinds: Iterable[str] | None = None) -> WebhookChannel:
        """A webhook channel; `kinds`: only these alerts (`core.ALERT_KINDS`), else every one."""
        only = alert_kinds(kinds)
        channel = WebhookChannel(url, name=f"webhook-{len(self.channels)}", kinds=only)
        self._add(channel)
        return channel

    def dead_letter_threshold(self, count: int, window: float | str) -> None:
        """Alert when more than `count` jobs died within `window` (seconds, or "15m"): once per
        window, whichever processes saw them die."""
        try:
            seconds = window if isinstance(window, int | float) else parse_duration(window)
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"dead-letter threshold: window: {error}") from None
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigurationError(f"dead-letter threshold: count must be >= 1, not {count!r}")
        if not seconds > 0:
            raise ConfigurationError(f"dead-letter threshold: window must be > 0, not {window!r}")
        self.dead_letters = (count, float(seconds))

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
        failed = [c.name for c in self._wanting(alert) if self._send(c, alert) is not None]
        return {
            "groups": len(groups),
            "errors": sum(g.count for g in groups),
            "failed": len(failed),
        }

    def on_event(self, event: Event) -> None:
        """Judge an event where it is published; the store and the channels are used later, on
        the sender thread."""
        if isinstance(event, JobDead):
            self._dead_letter_check()
            return
        alert = alert_for(event)
        if alert is None:
            return
        at = time.time()
        window = window_start(at, self.throttle)
        with self._lock:
            if self._seen.get((alert.kind, alert.subject)) == window:
                return  # this process claimed (or lost) it in this window already
            self._seen[(alert.kind, alert.subject)] = window
        self._later(lambda: self._claim_and_send(alert, at, self.throttle))

    def raise_alert(
        self, alert: Alert, now: float | None = None, throttle: float | None = None
    ) -> bool:
        """Queue the alert for sending unless this window already has it; True if queued."""
        at = time.time() if now is None else now
        claimed = self._claim(alert, at, self.throttle if throttle is None else throttle)
        if claimed:
            self._later(lambda: self._send_all(alert))
        return claimed

    def _claim(self, alert: Alert, at: float, throttle: float) -> bool:
        window = window_start(at, throttle)
        return self._store().claim_alert(alert.kind, alert.subject, window, at, alert.text)

    def _claim_and_send(self, alert: Alert, at: float, throttle: float) -> None:
        if self._claim(alert, at, throttle):
            self._send_all(alert)

    def _send_all(self, alert: Alert) -> None:
        for channel in self._wanting(alert):
            self._send(channel, alert)

    def _wanting(self, alert: Alert) -> list[Channel]:
        """The channels that receive this kind of alert (a channel's `kinds`, if it has any)."""
        return [c for c in list(self.channels) if c.kinds is None or alert.kind in c.kinds]

    def _dead_letter_check(self) -> None:
        if self.dead_letters is None or self._dead_since is None:
            return
        with self._lock:
            if self._dead_timer is not None:
                return  # a count is due already: it will see this death too
            timer = threading.Timer(self.dead_check_interval, self._later, (self._dead_count,))
            timer.daemon = True
            self._dead_timer = timer
        timer.start()

    def _dead_count(self) -> None:
        with self._lock:
            self._dead_timer = None
        self.check_dead_letters()

    def check_dead_letters(self, now: float | None = None) -> bool:
        """Count the jobs that died within the window (in the store) and alert, once per
        window, if more than the threshold did; True if this call raised the alert."""
        if self.dead_letters is None or self._dead_since is None:
            return False
        count, window = self.dead_letters
        at = time.time() if now is None else now
        if self._dead_since(at - window, count + 1) <= count:
            return False
        return self.raise_alert(dead_letter_alert(count, window), at, throttle=window)

    def _later(self, work: Callable[[], object]) -> None:
        self._outbox.put(work)
        self._start_sender()

    def _start_sender(self) -> None:
        with self._lock:
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send_forever, name="conveyor-alerts", daemon=True
                )
                self._sender.start()

    def _send_forever(self) -> None:
        while True:
            work = self._outbox.get()
            try:
                work()
            except Exception as error:  # the store down: logged, the worker never feels it
                log.warning("alert.failed", error=str(error))
            finally:
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
        while (self._outbox.unfinished_tasks or self._dead_timer) and time.monotonic() < deadline:
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
