"""Cron arithmetic on cronsim: no I/O, no clock; instants in and out are aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from conveyor.errors import ConfigurationError

CatchUp = Literal["once", "all", "none"]


def zone(tz: str) -> ZoneInfo:
    """The zone named tz, or one ConfigurationError line naming it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"unknown time zone {tz!r}") from exc


def check(cron: str) -> None:
    """Refuse a bad five-field expression with one line naming it."""
    try:
        CronSim(cron, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ConfigurationError(f"bad cron expression {cron!r}: {exc}") from exc


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """The first fire strictly after `after`, in UTC.

    cronsim follows cron's DST rules: a local time skipped by spring-forward fires at the first
    valid instant after the gap; a time repeated in autumn fires once (the first occurrence).
    """
    check(cron)
    local = after.astimezone(zone(tz))
    return next(CronSim(cron, local)).astimezone(UTC)


def fires_between(cron: str, tz: str, last: datetime, now: datetime) -> list[datetime]:
    """Every fire time in (last, now], oldest first."""
    fires: list[datetime] = []
    at = last
    while (at := next_fire(cron, tz, at)) <= now:
        fires.append(at)
    return fires


def to_fire(fires: list[datetime], catch_up: CatchUp) -> list[datetime]:
    """Of the fires due, those to enqueue: one fire due is always fired; after downtime, `once`
    fires the latest missed one, `all` every one, `none` none."""
    if len(fires) <= 1 or catch_up == "all":
        return fires
    return fires[-1:] if catch_up == "once" else []


def missed(cron: str, tz: str, last: datetime, now: datetime, catch_up: CatchUp) -> list[datetime]:
    """The fires to enqueue for (last, now]."""
    return to_fire(fires_between(cron, tz, last, now), catch_up)
