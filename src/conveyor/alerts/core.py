"""Which events become alerts, and their throttle window: pure, no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..events import (
    AccountNeedsReauth,
    BreakerClosed,
    BreakerOpened,
    ConnectionAuthFailed,
    ConnectionPaused,
    Event,
)
from ..options import show

DEFAULT_THROTTLE = 15 * 60.0
# What a channel may ask for (`kinds=`): the alerts the engine raises. `conveyor alerts test`
# reaches every channel chosen, whatever it asked for.
ALERT_KINDS = (
    "breaker_opened",
    "breaker_closed",
    "connection_paused",
    "auth_failed",
    "needs_reauth",
    "dead_letter_growth",
    "digest",
)


@dataclass(frozen=True)
class Alert:
    kind: str  # breaker_opened, breaker_closed, connection_paused, needs_reauth, test, ...
    subject: str  # what it is about (a connection, connection/owner): the throttle's unit
    title: str
    text: str


def alert_for(event: Event) -> Alert | None:
    """The alert an event raises, or None (most events raise none)."""
    if isinstance(event, BreakerOpened):
        why = f": {event.error}" if event.error else ""
        return Alert(
            "breaker_opened",
            event.connection,
            f"{event.connection} cannot be reached",
            f"The circuit breaker of connection {event.connection!r} opened after "
            f"{event.failures} consecutive failures{why}. Its jobs wait (no attempt used) and "
            f"one probe is let through in {event.cool_off:g} s.",
        )
    if isinstance(event, BreakerClosed):
        return Alert(
            "breaker_closed",
            event.connection,
            f"{event.connection} answers again",
            f"The circuit breaker of connection {event.connection!r} closed: its jobs run again.",
        )
    if isinstance(event, ConnectionPaused):
        return Alert(
            "connection_paused",
            event.connection,
            f"{event.connection} is paused",
            f"Connection {event.connection!r} is paused ({event.reason}); its jobs wait until "
            f"`conveyor connections resume {event.connection}`.",
        )
    if isinstance(event, ConnectionAuthFailed):
        word = "401 Unauthorized" if event.status == 401 else f"{event.status} Forbidden"
        whose = f"the credentials of {event.owner!r}" if event.owner else "our credentials"
        return Alert(
            "auth_failed",
            event.connection if event.owner is None else f"{event.connection}/{event.owner}",
            f"{event.connection} refuses {whose}",
            f"Connection {event.connection!r} answered {word}: it refuses {whose} ({event.reason})."
            " Its jobs fail until the credentials are fixed; check them with "
            f"`conveyor connections test {event.connection}`, then retry the dead jobs with "
            f"`conveyor jobs retry --dead --connection {event.connection}`.",
        )
    if isinstance(event, AccountNeedsReauth):
        return Alert(
            "needs_reauth",
            f"{event.connection}/{event.owner}",
            f"{event.owner} must authorise {event.connection} again",
            f"The provider refused the refresh token of {event.owner!r} on "
            f"{event.connection!r} ({event.reason}); their jobs wait until they authorise again.",
        )
    return None


def alert_kinds(kinds: object) -> frozenset[str] | None:
    """A channel's filter, checked: None (every alert), or the kinds it receives."""
    if kinds is None:
        return None
    chosen = [kinds] if isinstance(kinds, str) else kinds
    chosen = list(chosen) if isinstance(chosen, Iterable) else chosen
    if not isinstance(chosen, list) or not chosen:
        raise ConfigurationError(
            f"give a list of alert kinds (or no kinds for every alert), not {show(kinds)}"
        )
    for each in chosen:
        if each not in ALERT_KINDS:
            raise ConfigurationError(
                f"unknown alert kind {show(each)} in kinds (known: {', '.join(ALERT_KINDS)})"
            )
    return frozenset(chosen)


def dead_letter_alert(threshold: int, window: float) -> Alert:
    """More than `threshold` jobs died within `window` seconds (counted in the store, so across
    every worker process)."""
    return Alert(
        "dead_letter_growth",
        "dead",
        f"more than {threshold} jobs died in {_span(window)}",
        f"More than {threshold} jobs died in the last {_span(window)}. See them with `conveyor "
        "jobs list --state dead` (or --connection NAME); retry them with `conveyor jobs retry "
        "--dead` once the cause is fixed.",
    )


def _span(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def window_start(now: float, throttle: float) -> float:
    """The throttle window `now` falls in: one alert per kind and subject per window."""
    return now - now % throttle if throttle > 0 else now
