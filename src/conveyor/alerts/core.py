"""Which events become alerts, and their throttle window: pure, no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import AccountNeedsReauth, BreakerClosed, BreakerOpened, ConnectionPaused, Event

DEFAULT_THROTTLE = 15 * 60.0


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
    if isinstance(event, AccountNeedsReauth):
        return Alert(
            "needs_reauth",
            f"{event.connection}/{event.owner}",
            f"{event.owner} must authorise {event.connection} again",
            f"The provider refused the refresh token of {event.owner!r} on "
            f"{event.connection!r} ({event.reason}); their jobs wait until they authorise again.",
        )
    return None


def window_start(now: float, throttle: float) -> float:
    """The throttle window `now` falls in: one alert per kind and subject per window."""
    return now - now % throttle if throttle > 0 else now
