"""`[[alerts]]` in conveyor.toml: e-mail and webhook channels that send to a real SMTP server
(aiosmtpd) and a real HTTP receiver; every mistake named on one line, all channels or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.alerts.config import apply_alerts
from conveyor.errors import ConfigurationError
from tests.http_sink import Sink
from tests.test_cli import error_line, invoke, ok

from .conftest import Inbox
from .test_alerts import opened, subjects


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conveyor.toml"
    path.write_text(text)
    return path


def test_email_and_webhook_channels_from_the_file(
    app: Conveyor, smtp: tuple[str, Inbox], tmp_path: Path
) -> None:
    url, inbox = smtp
    with Sink() as sink:
        path = write(
            tmp_path,
            f"""
[connections.shop]
base_url = "{sink.url}"

[[alerts]]
kind = "email"
smtp = "{url}"
from = "conveyor@shop.test"
to = ["ops@shop.test", "manager@shop.test"]

[[alerts]]
kind = "email"
smtp = "{url}"
from = "conveyor@shop.test"
to = "oncall@shop.test"

[[alerts]]
kind = "webhook"
url = "{sink.url}/slack"
""",
        )
        channels = apply_alerts(app, path)
        assert [c.name for c in channels] == ["email-0", "email-1", "webhook-2"]
        app.events.publish(opened("shop"))
        app.alerts.flush()
        assert subjects(inbox) == ["Subject: [conveyor] shop cannot be reached"] * 2
        assert [m.rcpt_tos for m in inbox.messages] == [
            ["ops@shop.test", "manager@shop.test"],
            ["oncall@shop.test"],
        ]
        [posted] = sink.wait_for(1, path="/slack")
        assert posted.json["text"].startswith("*shop cannot be reached*")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('alerts = "x"', "alerts: expected [[alerts]] entries"),
        ('[[alerts]]\nkind = "pager"', "alerts[0].kind: unknown alert kind 'pager'"),
        ("[[alerts]]\nurl = 'http://x.test'", "alerts[0].kind: required key is missing"),
        ('[[alerts]]\nkind = "webhook"\nurl = "ftp://x"', "alerts[0].url: must be an http://"),
        ('[[alerts]]\nkind = "webhook"', "alerts[0].url: required key is missing"),
        (
            '[[alerts]]\nkind = "webhook"\nurl = "http://x.test"\nchannel = 1',
            "alerts[0].channel: unknown key 'channel'",
        ),
        (
            '[[alerts]]\nkind = "email"\nsmtp = "mail.test"\nfrom = "a@b.test"\nto = "c@d.test"',
            "alerts[0]: alert e-mail: smtp must be smtp://host:port",
        ),
        (
            '[[alerts]]\nkind = "email"\nsmtp = "smtp://m.test:25"\nfrom = "a@b.test"\nto = []',
            "alerts[0].to: expected an address or a list of them",
        ),
        (
            '[[alerts]]\nkind = "email"\nsmtp = "smtp://m.test:25"\nto = ["nobody"]',
            "alerts[0].from: required key is missing",
        ),
    ],
)
def test_mistakes_are_named_and_nothing_is_added(
    app: Conveyor, tmp_path: Path, text: str, words: str
) -> None:
    good = '[[alerts]]\nkind = "webhook"\nurl = "http://good.test/hook"\n\n'
    path = write(tmp_path, (good if text.startswith("[[") else "") + text)
    with pytest.raises(ConfigurationError) as raised:
        apply_alerts(app, path)
    message = str(raised.value)
    assert words.replace("alerts[0]", "alerts[1]" if text.startswith("[[") else "alerts[0]") in (
        message
    ), message
    assert "\n" not in message and message.startswith(str(path))
    assert app.alerts.channels == []  # all or none


def test_every_mistake_at_once_on_one_cli_line(
    database_url: str, smtp: tuple[str, Inbox], tmp_path: Path
) -> None:
    url, inbox = smtp
    bad = write(
        tmp_path,
        '[[alerts]]\nkind = "webhook"\n\n[[alerts]]\nkind = "email"\nsmtp = "x"\n',
    )
    line = error_line(invoke(database_url, "--config", str(bad), "alerts", "test", app=None))
    assert "alerts[0].url" in line and "alerts[1].from" in line and "alerts[1].to" in line
    good = write(
        tmp_path,
        f'[[alerts]]\nkind = "email"\nsmtp = "{url}"\nfrom = "a@b.test"\nto = "c@d.test"\n',
    )
    out = ok(invoke(database_url, "--config", str(good), "alerts", "test", app=None))
    assert "email-0: sent" in out and subjects(inbox) == ["Subject: [conveyor] test alert"]


def test_the_dead_letter_threshold_from_the_file_alerts(
    app: Conveyor, smtp: tuple[str, Inbox], tmp_path: Path
) -> None:
    url, inbox = smtp

    @app.task(name="doomed", max_attempts=1)
    def doomed(payload: dict[str, int]) -> None:
        raise RuntimeError("no")

    path = write(
        tmp_path,
        f"""
[alerting]
dead_letter_threshold = {{ count = 1, window = "10m" }}

[[alerts]]
kind = "email"
smtp = "{url}"
from = "conveyor@shop.test"
to = "ops@shop.test"
""",
    )
    apply_alerts(app, path)
    assert app.alerts.dead_letters == (1, 600.0)
    app.alerts.dead_check_interval = 0.05  # counted soon after, for the test
    app.enqueue("doomed", {"n": 1})
    app.run_worker(burst=True, install_signal_handlers=False)
    app.alerts.flush()
    assert inbox.messages == []  # one death is not more than one
    app.enqueue("doomed", {"n": 2})
    app.run_worker(burst=True, install_signal_handlers=False)
    app.alerts.flush()
    assert subjects(inbox) == ["Subject: [conveyor] more than 1 jobs died in 10 min"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "[alerting]\ndead_letter_threshold = { count = 0, window = 60 }",
            "alerting.dead_letter_threshold.count: must be at least 1",
        ),
        (
            '[alerting]\ndead_letter_threshold = { count = "50", window = 60 }',
            "alerting.dead_letter_threshold.count: expected an integer, got a string",
        ),
        (
            '[alerting]\ndead_letter_threshold = { count = 5, window = "soon" }',
            "alerting.dead_letter_threshold.window: ",
        ),
        (
            "[alerting]\ndead_letter_threshold = { count = 5, window = 0 }",
            "alerting.dead_letter_threshold.window: must be more than 0 seconds",
        ),
        (
            "[alerting]\ndead_letter_threshold = { count = 5 }",
            "alerting.dead_letter_threshold.window: required key is missing",
        ),
        (
            '[alerting]\ndead_letter_threshold = { count = 5, window = "1m", within = 2 }',
            "alerting.dead_letter_threshold.within: unknown key 'within'",
        ),
        (
            "[alerting]\ndead_letter_threshold = 50",
            "alerting.dead_letter_threshold: expected a table like { count = 50",
        ),
        ("[alerting]\ndead_letters = 50", "alerting.dead_letters: unknown key 'dead_letters'"),
        (
            "[alerts]\ndead_letter_threshold = { count = 5, window = 60 }",
            "alerts: expected [[alerts]] entries (an array of tables), got a table (the "
            "dead-letter threshold goes in [alerting])",
        ),
    ],
)
def test_a_bad_threshold_in_the_file_is_one_line_and_nothing_is_set(
    app: Conveyor, tmp_path: Path, text: str, words: str
) -> None:
    channel = '\n\n[[alerts]]\nkind = "webhook"\nurl = "http://good.test/hook"\n'
    path = write(tmp_path, text + ("" if text.startswith("[alerts]") else channel))
    with pytest.raises(ConfigurationError) as raised:
        apply_alerts(app, path)
    message = str(raised.value)
    assert words in message and "\n" not in message and message.startswith(str(path)), message
    assert app.alerts.dead_letters is None and app.alerts.channels == []


def test_a_threshold_set_in_python_and_in_the_file_is_refused(
    app: Conveyor, tmp_path: Path
) -> None:
    app.alerts.dead_letter_threshold(10, "5m")
    path = write(tmp_path, "[alerting]\ndead_letter_threshold = { count = 50, window = '15m' }\n")
    with pytest.raises(ConfigurationError, match=r"already set in Python.*one place only"):
        apply_alerts(app, path)
    assert app.alerts.dead_letters == (10, 300.0)


def test_a_bad_threshold_on_the_command_line(database_url: str, tmp_path: Path) -> None:
    bad = write(tmp_path, "[alerting]\ndead_letter_threshold = { count = -1, window = '1x' }\n")
    line = error_line(invoke(database_url, "--config", str(bad), "alerts", "list", app=None))
    assert "alerting.dead_letter_threshold.count: must be at least 1" in line
    assert "alerting.dead_letter_threshold.window" in line
