"""Connection holds as pure transitions: the back-off, a longer quiet standing, a pause sticking."""

from __future__ import annotations

import pytest

from conveyor.politeness import (
    BACKOFF_CAP,
    ON_HOLD,
    PAUSE_RECHECK,
    Hold,
    backoff,
    pause,
    paused_prefix,
    postponement,
    slow_down,
    spent,
)


def test_the_back_off_doubles_from_one_second_up_to_its_cap() -> None:
    assert [backoff(n, 3600) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(5, max_retry_after := 10) == max_retry_after


def test_consecutive_answers_grow_the_back_off_and_retry_after_wins() -> None:
    first = slow_down(None, "shop", 100.0, 503, None, 3600, "POST /x")
    assert first is not None and (first.until, first.strikes) == (101.0, 1)
    second = slow_down(first, "shop", 101.5, 503, None, 3600, "POST /x")
    assert second is not None and (second.until, second.strikes) == (103.5, 2)
    told = slow_down(second, "shop", 104.0, 429, 7.0, 3600, "POST /x")
    assert told is not None and (told.until, told.strikes) == (111.0, 3)
    assert "HTTP 429 from POST /x" in told.reason and "Retry-After 7 s" in told.reason


def test_a_longer_quiet_already_asked_for_stands() -> None:
    long = slow_down(None, "shop", 100.0, 429, 30.0, 3600, "GET /")
    assert long is not None
    short = slow_down(long, "shop", 101.0, 429, 2.0, 3600, "GET /")
    assert short is not None and short.until == 130.0


def test_strikes_start_over_once_the_last_hold_is_long_past() -> None:
    old = Hold("shop", "slowed", 100.0, "HTTP 503", strikes=6, updated_at=40.0)
    fresh = slow_down(old, "shop", 100.0 + BACKOFF_CAP + 1, 503, None, 3600, "GET /")
    assert fresh is not None and fresh.strikes == 1


def test_a_pause_sticks_until_resumed() -> None:
    paused = pause(None, "shop", 100.0, "HTTP 410 from DELETE /contacts/4")
    assert paused is not None and paused.kind == "paused" and paused.until is None
    assert paused.active(10**12)
    assert slow_down(paused, "shop", 101.0, 429, 1.0, 3600, "GET /") is None
    assert pause(paused, "shop", 102.0, "again") is None  # the first reason stays
    wait = postponement(paused, None)
    assert wait.after == PAUSE_RECHECK
    assert wait.reason.startswith(paused_prefix("shop")) and wait.reason.startswith(ON_HOLD)
    assert "conveyor connections resume shop" in wait.reason


@pytest.mark.parametrize(
    ("hold", "now", "expected"),
    [
        (None, 0.0, False),
        (Hold("shop", "slowed", 10.0, "r", 1), 5.0, False),  # still quiet
        (Hold("shop", "slowed", 10.0, "r", 1), 11.0, True),
        (Hold("shop", "paused", None, "r"), 11.0, False),
    ],
)
def test_only_a_spent_slow_down_is_cleared_by_a_success(
    hold: Hold | None, now: float, expected: bool
) -> None:
    assert spent(hold, now) is expected


def test_a_slowed_postponement_names_the_connection_and_until_when() -> None:
    hold = Hold("shop", "slowed", 3600.0 * 12 + 3, "HTTP 429 from GET /", 1)
    wait = postponement(hold, 2.5)
    assert wait.after == 2.5
    assert wait.reason.startswith("connection 'shop' slowed until 12:00:03 UTC: HTTP 429")
