"""Checks for the values a job is enqueued with (and a task declared with).

A bad value is refused at enqueue with one line naming the option, before anything is stored:
once stored, a text priority or a run_at past year 9999 breaks every worker that claims the job
or every `jobs list` that shows it. The bounds are what both stores hold: PostgreSQL INTEGER for
priorities and attempts, BIGINT for ids.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .durations import parse_duration
from .errors import ConfigurationError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ID_MAX = 2**63 - 1
MAX_QUEUE_LENGTH = 200
# Keys are indexed in PostgreSQL, whose B-tree entries hold at most ~2.7 kB (4 bytes a character).
MAX_KEY_LENGTH = 500
MAX_DELAY = 100 * 365.25 * 86400.0  # 100 years
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Delay = float | timedelta | str
"""Seconds (int or float), a `timedelta`, or a duration such as "250ms", "5m", "2h", "1h30m"."""


def show(value: object) -> str:
    """A value for an error message: short, and never a 4,300-digit integer (repr refuses)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(value: object, option: str, low: int = INT32_MIN, high: int = INT32_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigurationError(f"{option} must be an integer, not {show(value)}")
    if not low <= value <= high:
        raise ConfigurationError(f"{option} must be from {low} to {high}, not {show(value)}")
    return int(value)


def text(value: object, option: str, limit: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"{option} must be a string, not {show(value)}")
    if not value and not empty:
        raise ConfigurationError(f"{option} must not be empty")
    if len(value) > limit:
        raise ConfigurationError(f"{option} must be at most {limit} characters, not {len(value)}")
    if "\x00" in value:
        raise ConfigurationError(f"{option} must not contain NUL characters")
    return str(value)


def seconds(value: object, option: str) -> float:
    """A duration in seconds: a number, a `timedelta` or a duration string; 0 to 100 years."""
    number: float | int
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, str):
        try:
            number = parse_duration(value)
        except ValueError as error:
            raise ConfigurationError(f"{option}: {error}") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = value  # compared as it is: exact for any int, no OverflowError
    else:
        raise ConfigurationError(
            f"{option} must be seconds, a timedelta or a duration like '5m', not {show(value)}"
        )
    if not number >= 0:  # also NaN
        raise ConfigurationError(f"{option} must be >= 0 seconds, not {show(value)}")
    if number > MAX_DELAY:
        raise ConfigurationError(f"{option} must be at most 100 years, not {show(value)}")
    return float(number)


def moment(value: object, option: str = "run_at") -> datetime:
    """An aware datetime from 1970 to 100 years from now: what both stores and `datetime` hold."""
    if not isinstance(value, datetime):
        raise ConfigurationError(f"{option} must be a datetime, not {show(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(f"{option} must be timezone-aware")
    try:
        ahead = (value - EPOCH).total_seconds()
    except OverflowError:  # a few hours from datetime.min or max, with an offset
        ahead = -1.0
    if not 0 <= ahead <= time.time() + MAX_DELAY:
        raise ConfigurationError(
            f"{option} must be between 1970 and 100 years from now, not {value.isoformat()}"
        )
    return value


def job_ids(values: Sequence[object]) -> list[int]:
    """The ids a store can hold (the others match no job); a non-integer is refused."""
    kept: list[int] = []
    for value in values:
        if type(value) is not int:
            raise ConfigurationError(f"job ids are integers, not {show(value)}")
        if 1 <= value <= ID_MAX:
            kept.append(value)
    return kept
