"""The schedules slice: the last fire time of each schedule, the scheduler's memory across restarts
and processes. SQL: `sql/<dialect>/schedules.sql`; tests: `tests/store/test_schedules.py`.

A fire that enqueues a job is made exactly once by the job's idempotency key
(`cron:<name>:<fire time>`), whoever enqueues it; `claim_fire` is the conditional update that
makes a fire with no job (a maintenance action) run in one process only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FireRecord:
    name: str
    last_fire_at: float  # the fire time (epoch seconds), not when it ran
    fired_at: float  # when it was enqueued or run


class ScheduleStore:
    def last_fires(self) -> dict[str, FireRecord]:
        raise NotImplementedError

    def mark_fired(self, name: str, fire_at: float, now: float) -> None:
        """Remember `fire_at` as fired (never moving the last fire back)."""
        raise NotImplementedError

    def claim_fire(self, name: str, fire_at: float, now: float) -> bool:
        """Record `fire_at` if no process did yet: True in exactly one process."""
        raise NotImplementedError
