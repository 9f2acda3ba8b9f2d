"""Connection-wide politeness: holds on a connection, as pure transitions (no clock, no I/O).

A hold stops every request to a connection, from every worker, until it ends:

    (none) --429/503--> slowed until now + Retry-After (capped by max_retry_after), or without
                        the header now + back-off: 1 s, doubling per consecutive answer, capped
                        at 60 s (or max_retry_after if lower)
    slowed --success after it ended--> (none): the back-off starts at 1 s again
    any    --410 Gone, or an operator's pause--> paused, until an operator resumes it
    paused --resume--> (none)

The jobs that meet a hold are postponed (their attempt not counted): a slowed connection's until
the hold ends, a paused connection's for `PAUSE_RECHECK` seconds at a time (a resume makes them
due at once). The strikes of a slowed connection start again from one when the last hold ended
more than `BACKOFF_CAP` seconds before the next answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import Postpone

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 60.0
PAUSE_RECHECK = 300.0
SLOW_DOWN_STATUSES = frozenset({429, 503})
GONE_STATUS = 410
# Reasons of jobs that wait for someone (an operator's resume, a worker that has the connection),
# not merely throttled: they do not keep a burst worker running, and a resume finds them by it.
ON_HOLD = "on hold: "


@dataclass(frozen=True)
class Hold:
    """A connection's hold, as stored. `until` is None for a pause (until resumed). Times are
    epoch seconds by the store's clock."""

    name: str
    kind: str  # slowed | paused
    until: float | None
    reason: str
    strikes: int = 0
    updated_at: float = 0.0

    def active(self, now: float) -> bool:
        return self.kind == "paused" or (self.until is not None and self.until > now)


def backoff(strikes: int, cap: float) -> float:
    """Seconds of quiet after the `strikes`-th consecutive 429/503 without Retry-After."""
    return min(BACKOFF_FIRST * 2.0 ** max(strikes - 1, 0), BACKOFF_CAP, cap)


def slow_down(
    current: Hold | None,
    name: str,
    now: float,
    status: int,
    after: float | None,
    cap: float,
    where: str,
) -> Hold | None:
    """The hold after a 429/503 (`after`: its Retry-After, already capped); None while paused."""
    if current is not None and current.kind == "paused":
        return None
    strikes = 1
    if current is not None and current.until is not None and current.until >= now - BACKOFF_CAP:
        strikes = current.strikes + 1
    seconds = after if after is not None else backoff(strikes, cap)
    until = now + seconds
    if current is not None and current.until is not None and current.until > until:
        until = current.until  # another worker's longer quiet stands
    why = f"Retry-After {seconds:g} s" if after is not None else f"back-off {seconds:g} s"
    reason = f"HTTP {status} from {where} ({why}, {strikes} in a row)"
    return Hold(name, "slowed", until, reason, strikes, now)


def pause(current: Hold | None, name: str, now: float, reason: str) -> Hold | None:
    """The hold of a paused connection; None when it is already paused (the first reason stays)."""
    if current is not None and current.kind == "paused":
        return None
    return Hold(name, "paused", None, reason, current.strikes if current else 0, now)


def spent(hold: Hold | None, now: float) -> bool:
    """Whether a success should clear this hold: a slow-down whose quiet has passed."""
    return hold is not None and hold.kind == "slowed" and not hold.active(now)


def paused_prefix(name: str) -> str:
    """How the reason of every job a pause of `name` postponed begins (a resume wakes them)."""
    return f"{ON_HOLD}connection {name!r} is paused"


def postponement(hold: Hold, remaining: float | None) -> Postpone:
    """What a job that meets the hold does: wait, its attempt not counted, saying why."""
    if hold.kind == "paused":
        return Postpone(
            PAUSE_RECHECK,
            f"{paused_prefix(hold.name)} ({hold.reason}): resume it with"
            f" `conveyor connections resume {hold.name}`",
        )
    wait = max(remaining or 0.0, 0.001)
    return Postpone(
        wait, f"connection {hold.name!r} slowed until {clock_text(hold.until)}: {hold.reason}"
    )


def clock_text(epoch: float | None) -> str:
    if epoch is None:
        return "resumed"
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")
