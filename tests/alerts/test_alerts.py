"""Alerts to a real SMTP server (aiosmtpd) and a real webhook receiver, both backends: breaker
and pause events become mails, throttled per connection and kind, deduplicated across app
instances sharing a store; a channel that is down is logged, never raised."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from conveyor import Conveyor
from conveyor.alerts import Alert
from conveyor.errors import ConfigurationError
from conveyor.events import AccountNeedsReauth, BreakerOpened, ConnectionPaused
from tests.test_cli import error_line, invoke, ok


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


def opened(connection: str = "shop") -> BreakerOpened:
    return BreakerOpened(connection, "closed", 5, 30.0, "connection refused")


def subjects(inbox: Inbox) -> list[str]:
    return [
        next(line for line in m.content.decode().splitlines() if line.startswith("Subject:"))
        for m in inbox.messages
    ]


def test_a_breaker_opening_mails_once_per_window(app: Conveyor, smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    app.alerts.email(url, "conveyor@shop.test", ["manager@shop.test"])
    app.events.publish(opened())
    app.events.publish(opened())  # the same breaker again, same window: throttled
    app.events.publish(ConnectionPaused("erp", "410 Gone"))
    app.events.publish(AccountNeedsReauth("bank", "alice", "invalid_grant"))
    app.alerts.flush()
    assert subjects(inbox) == [
        "Subject: [conveyor] shop cannot be reached",
        "Subject: [conveyor] erp is paused",
        "Subject: [conveyor] alice must authorise bank again",
    ]
    assert inbox.messages[0].rcpt_tos == ["manager@shop.test"]
    assert "connection refused" in inbox.messages[0].content.decode()
    assert [a.kind for a in app.alerts.recent()][::-1] == [
        "breaker_opened",
        "connection_paused",
        "needs_reauth",
    ]
    # The next window alerts again.
    later = app.alerts.throttle * 2 + 1e9
    assert app.alerts.raise_alert(Alert("breaker_opened", "shop", "t", "x"), now=later)


def test_two_processes_sharing_a_store_send_one_alert(
    database_url: str, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    apps = [Conveyor(database_url), Conveyor(database_url)]
    try:
        for a in apps:
            a.alerts.email(url, "conveyor@shop.test", "ops@shop.test")
        barrier = threading.Barrier(2)

        def both(a: Conveyor) -> None:
            barrier.wait()
            a.events.publish(opened("crm"))

        threads = [threading.Thread(target=both, args=(a,)) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for a in apps:
            a.alerts.flush()
        assert subjects(inbox) == ["Subject: [conveyor] crm cannot be reached"]
    finally:
        for a in apps:
            a.close()


def test_webhook_channel_posts_slack_json(app: Conveyor) -> None:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None: ...

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app.alerts.webhook(f"http://127.0.0.1:{server.server_port}/slack")
        app.events.publish(opened("billing"))
        app.alerts.flush()
        assert len(received) == 1
        assert received[0]["text"].startswith("*billing cannot be reached*")
    finally:
        server.shutdown()


def test_a_channel_down_is_logged_and_the_test_command_says_so(app: Conveyor) -> None:
    app.alerts.email(f"smtp://127.0.0.1:{free_port()}", "a@b.test", "c@d.test")
    app.events.publish(opened())  # the SMTP server is down: logged, nothing raised
    app.alerts.flush()
    [result] = app.alerts.test()
    assert not result.ok and result.error and "Connection" in result.error
    with pytest.raises(ConfigurationError, match="no alert channel 3"):
        app.alerts.test(3)


def test_bad_channels_are_refused(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="smtp://host:port"):
        app.alerts.email("mail.example.com", "a@b.test", "c@d.test")
    with pytest.raises(ConfigurationError, match="at least one address"):
        app.alerts.email("smtp://127.0.0.1:25", "a@b.test", [])
    with pytest.raises(ConfigurationError, match="http"):
        app.alerts.webhook("ftp://example.com")
    with pytest.raises(ConfigurationError, match="no alert channels"):
        app.alerts.test()


def test_cli_alerts_test_and_list(
    database_url: str, smtp: tuple[str, Inbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, inbox = smtp
    (tmp_path / "alerting.py").write_text(
        "from conveyor import Conveyor\n"
        "app = Conveyor()\n"
        f"app.alerts.email({url!r}, 'conveyor@shop.test', 'ops@shop.test')\n"
        f"app.alerts.email('smtp://127.0.0.1:{free_port()}', 'conveyor@shop.test', 'x@y.test')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "alerting", raising=False)  # the other backend's run
    result = invoke(database_url, "alerts", "test", "--channel", "0", app="alerting:app")
    assert result.exit_code == 0 and "email-0: sent" in result.stdout, result.stdout
    assert subjects(inbox) == ["Subject: [conveyor] test alert"]
    result = invoke(database_url, "alerts", "test", app="alerting:app")
    assert result.exit_code == 1 and "email-1: failed" in result.stdout
    assert "no alert channel 7" in error_line(
        invoke(database_url, "alerts", "test", "--channel", "7", app="alerting:app")
    )
    listed = ok(invoke(database_url, "alerts", "list", app="alerting:app"))
    assert "channel 0: e-mail via smtp://127.0.0.1" in listed and "No alerts sent." in listed


def test_weekly_digest_from_the_monday_schedule_groups_errors(
    app: Conveyor, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp

    @app.task(name="push_contact", max_attempts=1)
    def push_contact(payload: dict[str, int]) -> None:
        raise ValueError(f"bad contact {payload['n']}")

    @app.task(name="push_order", max_attempts=1)
    def push_order(payload: dict[str, int]) -> None:
        raise KeyError("sku")

    app.alerts.email(url, "conveyor@shop.test", "manager@shop.test")
    app.alerts.dashboard_url = "http://conveyor.local/dashboard"
    for n in range(3):
        app.enqueue("push_contact", {"n": n})
    app.enqueue("push_order", {"n": 9})
    app.run_worker(burst=True, install_signal_handlers=False)
    [digest] = [v for v in app.ops.schedules.views() if v.name == "conveyor.digest"]
    assert digest.status == "active" and (digest.next_run.weekday(), digest.next_run.hour) in {
        (0, 9),
        (0, 8),
    }  # Monday 10:00 Amsterdam (CET: 09:00 UTC, CEST: 08:00 UTC)
    job_id = app.enqueue("conveyor.alerts.digest", idempotency_key="cron:conveyor.digest:test")
    app.run_worker(burst=True, install_signal_handlers=False)
    assert app.get_job(job_id).state == "succeeded"
    app.alerts.flush()
    [mail] = inbox.messages
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert str(message["Subject"]).startswith("[conveyor] 4 errors")
    text = message.get_body().get_content()  # type: ignore[union-attr]
    assert "- push_contact: ValueError x3" in text
    assert "- push_order: KeyError x1" in text
    assert "http://conveyor.local/dashboard/jobs?state=dead&task=push_contact" in text


def test_a_week_without_errors_sends_no_digest_unless_asked(
    app: Conveyor, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    app.alerts.email(url, "conveyor@shop.test", "manager@shop.test")
    app.alerts.digest_when_empty = False
    assert app.alerts.send_digest() == {"groups": 0, "errors": 0, "failed": 0}
    assert inbox.messages == []
    app.alerts.digest_when_empty = True  # the default: "no errors" is news too
    app.alerts.send_digest()
    assert subjects(inbox) and subjects(inbox)[0].startswith("Subject: [conveyor] no errors")
