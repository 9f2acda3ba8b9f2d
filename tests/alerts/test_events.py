"""The alerts raised by a connection refusing our credentials (401/403) and by dead-letter
growth over a threshold, to a real SMTP server (aiosmtpd) and a real webhook receiver, both
backends: once per connection (or once in all) per window, across processes sharing a store."""

from __future__ import annotations

import pytest

from conveyor import Bearer, Conveyor
from conveyor.errors import ConfigurationError
from tests.http_sink import Response, Sink

from .conftest import Inbox
from .test_alerts import subjects

SECRET = "tok-s3cret-value"


def test_401_and_403_alert_once_per_connection(app: Conveyor, smtp: tuple[str, Inbox]) -> None:
    url, inbox = smtp
    app.alerts.email(url, "conveyor@shop.test", "ops@shop.test")
    with Sink() as sink:
        sink.default("/orders", Response(401, json={"error": "invalid token"}))
        sink.default("/stock", Response(403))
        app.connection("shop", sink.url, auth=Bearer(SECRET))
        app.connection("erp", sink.url)
        for n in range(3):
            app.deliver("shop", "/orders", {"n": n})
            app.deliver("erp", "/stock", {"n": n})
        app.deliver("erp", "/fine", {"n": 9})
        app.run_worker(burst=True, install_signal_handlers=False)
        app.alerts.flush()
    assert sorted(subjects(inbox)) == [
        "Subject: [conveyor] erp refuses our credentials",
        "Subject: [conveyor] shop refuses our credentials",
    ]
    text = "".join(m.content.decode() for m in inbox.messages)
    assert "401 Unauthorized" in text and "403 Forbidden" in text
    assert "retry --dead --connection shop" in text
    assert SECRET not in text
    assert sorted(a.subject for a in app.alerts.recent() if a.kind == "auth_failed") == [
        "erp",
        "shop",
    ]


def test_dead_letter_growth_alerts_once_past_the_threshold(
    database_url: str, smtp: tuple[str, Inbox]
) -> None:
    url, inbox = smtp
    apps = [Conveyor(database_url), Conveyor(database_url)]
    try:
        with Sink() as receiver:
            for a in apps:

                @a.task(name="doomed", max_attempts=1)
                def doomed(payload: dict[str, int]) -> None:
                    raise RuntimeError("no")

                a.alerts.email(url, "conveyor@shop.test", "ops@shop.test")
                a.alerts.webhook(receiver.url_for("/slack"))
                a.alerts.dead_letter_threshold(3, "10m")
                a.alerts.dead_check_interval = 0.05  # counted soon after, for the test
            first, second = apps
            for n in range(2):  # in one process ...
                first.enqueue("doomed", {"n": n})
            first.run_worker(burst=True, install_signal_handlers=False)
            second.enqueue("doomed", {"n": 2})  # ... and the other: three, not more than three
            second.run_worker(burst=True, install_signal_handlers=False)
            for a in apps:
                a.alerts.flush()
            assert inbox.messages == [] and not first.alerts.check_dead_letters()
            second.enqueue("doomed", {"n": 3})  # the fourth, counted from the store
            second.run_worker(burst=True, install_signal_handlers=False)
            second.alerts.flush()
            assert subjects(inbox) == ["Subject: [conveyor] more than 3 jobs died in 10 min"]
            [posted] = receiver.wait_for(1, path="/slack")
            assert posted.json["text"].startswith("*more than 3 jobs died in 10 min*")
            assert not first.alerts.check_dead_letters()  # claimed: once per window in all
            first.enqueue("doomed", {"n": 4})
            first.run_worker(burst=True, install_signal_handlers=False)
            first.alerts.flush()
            assert len(inbox.messages) == 1
    finally:
        for a in apps:
            a.close()


def test_a_bad_threshold_is_refused(app: Conveyor) -> None:
    for count, window, words in [
        (0, 60, "count must be >= 1"),
        (5, 0, "window must be > 0"),
        (5, "soon", "window"),
    ]:
        with pytest.raises(ConfigurationError, match=words):
            app.alerts.dead_letter_threshold(count, window)
    assert app.alerts.dead_letters is None
