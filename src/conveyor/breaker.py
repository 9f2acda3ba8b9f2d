"""Circuit breakers: settings and pure state transitions (no clock, no I/O).

closed --N consecutive failures--> open --cool-off passed--> half_open (one probe)
half_open --probe succeeds--> closed;  half_open --probe fails--> open, cool-off doubled (capped)
A probe whose worker vanished frees the slot after `probe_timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import ConfigurationError


@dataclass(frozen=True)
class Breaker:
    failures: int = 5
    cool_off: float = 30.0
    max_cool_off: float = 600.0
    probe_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.cool_off <= 0 or self.max_cool_off < self.cool_off:
            raise ConfigurationError(
                "Breaker needs failures >= 1, cool_off > 0 and max_cool_off >= cool_off"
            )


@dataclass(frozen=True)
class BreakerRecord:
    """A breaker's shared state, as stored. Times are epoch seconds."""

    name: str
    state: str = "closed"  # closed | open | half_open
    failures: int = 0
    cool_off: float = 0.0
    open_until: float | None = None
    probe_until: float | None = None
    updated_at: float = 0.0
    last_error: str | None = None


def admit(record: BreakerRecord | None, now: float) -> float:
    """0 when a call may go ahead without changing state, else seconds to wait.

    -1 means "may go ahead as the probe, if it wins the probe slot" (see `take_probe`).
    """
    if record is None or record.state == "closed":
        return 0.0
    if record.state == "open":
        until = record.open_until or now
        return -1.0 if until <= now else until - now
    probe_until = record.probe_until or now
    return -1.0 if probe_until <= now else min(probe_until - now, 1.0)  # the probe ends soon


def take_probe(record: BreakerRecord | None, now: float, settings: Breaker) -> BreakerRecord | None:
    """The record with this caller holding the probe slot, or None if it cannot."""
    if record is None or admit(record, now) != -1.0:
        return None
    return replace(
        record, state="half_open", probe_until=now + settings.probe_timeout, updated_at=now
    )


def on_success(record: BreakerRecord | None, now: float, settings: Breaker) -> BreakerRecord | None:
    """The record after a success; None when nothing changes (the hot path writes nothing)."""
    if record is None or (record.state == "closed" and record.failures == 0):
        return None
    return replace(
        record,
        state="closed",
        failures=0,
        cool_off=settings.cool_off,
        open_until=None,
        probe_until=None,
        updated_at=now,
    )


def on_failure(
    record: BreakerRecord | None, name: str, now: float, settings: Breaker, error: str
) -> BreakerRecord:
    current = record or BreakerRecord(name=name, cool_off=settings.cool_off, updated_at=now)
    if current.state == "half_open":  # the probe failed: open again, for longer
        cool_off = min(max(current.cool_off, settings.cool_off) * 2, settings.max_cool_off)
        return replace(
            current,
            state="open",
            failures=current.failures + 1,
            cool_off=cool_off,
            open_until=now + cool_off,
            probe_until=None,
            updated_at=now,
            last_error=error,
        )
    failures = current.failures + 1
    if current.state == "closed" and failures >= settings.failures:
        cool_off = current.cool_off or settings.cool_off
        return replace(
            current,
            state="open",
            failures=failures,
            cool_off=cool_off,
            open_until=now + cool_off,
            updated_at=now,
            last_error=error,
        )
    return replace(current, failures=failures, updated_at=now, last_error=error)
