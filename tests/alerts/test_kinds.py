"""Per-channel alert filters (`kinds=`, `kinds = [...]` in conveyor.toml), both backends, to a
real SMTP server and a real webhook receiver: a channel gets the kinds it asked for, every
channel gets a test alert, an unknown kind is one line naming the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.alerts.config import apply_alerts
from conveyor.alerts.core import ALERT_KINDS
from conveyor.errors import ConfigurationError
from conveyor.events import BreakerClosed
from tests.http_sink import Sink
from tests.test_cli import error_line, invoke, ok

from .conftest import Inbox
from .test_alerts import opened, subjects


def test_each_channel_gets_only_the_kinds_it_asked_for(
    app: Conveyor, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    with Sink() as sink:
        app.alerts.email(url, "conveyor@shop.test", "manager@shop.test", kinds=["digest"])
        app.alerts.webhook(sink.url_for("/chat"), kinds=("breaker_opened", "breaker_closed"))
        app.alerts.webhook(sink.url_for("/all"))  # no kinds: every alert
        app.events.publish(opened("shop"))
        app.events.publish(BreakerClosed("shop", "half_open"))
        app.alerts.flush()
        assert inbox.messages == []  # the manager asked for the digest only
        texts = [r.json["text"].splitlines()[0] for r in sink.requests_to("/chat")]
        assert texts == ["*shop cannot be reached*", "*shop answers again*"]
        assert len(sink.requests_to("/all")) == 2
        sent = app.alerts.send_digest()
        assert sent["failed"] == 0
        [digest] = subjects(inbox)
        assert digest.startswith("Subject: [conveyor] no errors")
        assert len(sink.requests_to("/chat")) == 2 and len(sink.requests_to("/all")) == 3
        results = app.alerts.test()  # a test reaches every channel, whatever it asked for
        assert [(r.channel, r.ok) for r in results] == [
            ("email-0", True),
            ("webhook-1", True),
            ("webhook-2", True),
        ]
        assert len(inbox.messages) == 2 and len(sink.requests_to("/chat")) == 3


def test_an_unknown_kind_is_refused_naming_the_known_ones(app: Conveyor) -> None:
    for kinds, words in [
        (["breaker_opend"], "unknown alert kind 'breaker_opend' in kinds (known: breaker_opened,"),
        ([], "give a list of alert kinds"),
        (5, "give a list of alert kinds (or no kinds for every alert), not 5"),
    ]:
        with pytest.raises(ConfigurationError) as raised:
            app.alerts.webhook("http://hooks.test/x", kinds=kinds)  # type: ignore[arg-type]
        assert words in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(ConfigurationError) as raised:
        app.alerts.email("smtp://m.test:25", "a@b.test", "c@d.test", kinds=["x"])
    assert f"(known: {', '.join(ALERT_KINDS)})" in str(raised.value)
    assert app.alerts.channels == []
    one = app.alerts.webhook("http://hooks.test/x", kinds="digest")  # one kind as a string
    assert one.kinds == frozenset({"digest"})


def test_kinds_in_the_file(app: Conveyor, smtp: tuple[str, Inbox], tmp_path: Path) -> None:
    url, inbox = smtp
    path = tmp_path / "conveyor.toml"
    with Sink() as sink:
        path.write_text(
            f"""
[[alerts]]
kind = "email"
smtp = "{url}"
from = "conveyor@shop.test"
to = "manager@shop.test"
kinds = ["breaker_opened", "digest"]

[[alerts]]
kind = "webhook"
url = "{sink.url}/chat"
kinds = ["needs_reauth"]
"""
        )
        channels = apply_alerts(app, path)
        assert [c.kinds for c in channels] == [
            frozenset({"breaker_opened", "digest"}),
            frozenset({"needs_reauth"}),
        ]
        app.events.publish(opened("shop"))
        app.alerts.flush()
        assert subjects(inbox) == ["Subject: [conveyor] shop cannot be reached"]
        assert sink.requests == []


@pytest.mark.parametrize(
    ("kinds", "words"),
    [
        (
            '["digest", "pager"]',
            "alerts[0].kinds: unknown alert kind 'pager' in kinds (known: breaker_opened, "
            "breaker_closed, connection_paused, auth_failed, needs_reauth, dead_letter_growth, "
            "digest)",
        ),
        ("[]", "alerts[0].kinds: give a list of alert kinds"),
        ("{ a = 1 }", "alerts[0].kinds: unknown alert kind 'a'"),
        ("3", "alerts[0].kinds: give a list of alert kinds (or no kinds for every alert), not 3"),
    ],
)
def test_a_bad_kinds_in_the_file_is_one_line_and_nothing_is_added(
    app: Conveyor, tmp_path: Path, kinds: str, words: str
) -> None:
    path = tmp_path / "conveyor.toml"
    path.write_text(f'[[alerts]]\nkind = "webhook"\nurl = "http://hooks.test/x"\nkinds = {kinds}\n')
    with pytest.raises(ConfigurationError) as raised:
        apply_alerts(app, path)
    message = str(raised.value)
    assert words in message and "\n" not in message and message.startswith(str(path)), message
    assert app.alerts.channels == []


def test_cli_test_and_list_with_filtered_channels(
    database_url: str, smtp: tuple[str, Inbox], tmp_path: Path
) -> None:
    url, inbox = smtp
    path = tmp_path / "conveyor.toml"
    path.write_text(
        f'[[alerts]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\nkinds = ["digest"]\n\n'
        f'[[alerts]]\nkind = "email"\nsmtp = "{url}"\nfrom = "a@b.test"\nto = "c@d.test"\n'
        'kinds = ["dead_letter_growth", "auth_failed"]\n'
    )
    config = ["--config", str(path)]
    out = ok(invoke(database_url, *config, "alerts", "test", "--channel", "1", app=None))
    assert (
        "email-1: sent" in out
        and "email-0" not in out
        and subjects(inbox) == ["Subject: [conveyor] test alert"]
    )
    listed = ok(invoke(database_url, *config, "alerts", "list", app=None))
    assert "channel 0: webhook to http://127.0.0.1:9/hook (only digest)" in listed
    assert "channel 1: e-mail via smtp://127.0.0.1" in listed
    assert "(only auth_failed, dead_letter_growth)" in listed
    bad = tmp_path / "bad.toml"
    bad.write_text('[[alerts]]\nkind = "webhook"\nurl = "http://x.test/h"\nkinds = ["oops"]\n')
    line = error_line(invoke(database_url, "--config", str(bad), "alerts", "test", app=None))
    assert "alerts[0].kinds: unknown alert kind 'oops' in kinds (known: breaker_opened," in line
