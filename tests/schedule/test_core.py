from datetime import UTC, datetime

import pytest

from conveyor.errors import ConfigurationError
from conveyor.schedule.core import missed, next_fire

AMS = "Europe/Amsterdam"


def test_monday_digest_at_ten_amsterdam() -> None:
    # Wednesday 2 Dec 2026 -> Monday 7 Dec, 10:00 CET = 09:00 UTC
    assert next_fire("0 10 * * MON", AMS, datetime(2026, 12, 2, tzinfo=UTC)) == datetime(
        2026, 12, 7, 9, tzinfo=UTC
    )


def test_autumn_repeated_hour_fires_once() -> None:
    first = next_fire("30 2 * * *", AMS, datetime(2026, 10, 24, 12, tzinfo=UTC))
    second = next_fire("30 2 * * *", AMS, first)
    assert (second - first).total_seconds() > 23 * 3600


def test_catch_up_policies() -> None:
    last, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
    assert len(missed("0 * * * *", "UTC", last, now, "all")) == 3
    assert missed("0 * * * *", "UTC", last, now, "once") == [datetime(2026, 1, 1, 3, tzinfo=UTC)]
    assert missed("0 * * * *", "UTC", last, now, "none") == []
    # One fire due (no downtime) fires whatever the policy.
    just_due = datetime(2026, 1, 1, 1, 0, 30, tzinfo=UTC)
    one = [datetime(2026, 1, 1, 1, tzinfo=UTC)]
    assert missed("0 * * * *", "UTC", last, just_due, "none") == one


def test_spring_forward_gap_fires_once_after_the_gap() -> None:
    # 29 Mar 2026: 02:00-03:00 local does not exist in Amsterdam.
    fire = next_fire("30 2 * * *", AMS, datetime(2026, 3, 28, 12, tzinfo=UTC))
    assert fire == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the first valid instant
    assert next_fire("30 2 * * *", AMS, fire) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("cron", "tz"), [("61 * * * *", "UTC"), ("0 * * * *", "Mars/Base")])
def test_bad_input_is_one_line(cron: str, tz: str) -> None:
    with pytest.raises(ConfigurationError):
        next_fire(cron, tz, datetime(2026, 1, 1, tzinfo=UTC))
