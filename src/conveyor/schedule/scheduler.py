"""The scheduler: fires due schedules, in any number of processes at once.

Exactly once per fire time, by construction rather than by a leader: a fire that enqueues a job
uses the idempotency key `cron:<name>:<fire time>`, so a second process (or the same one after a
crash between the enqueue and the bookkeeping) gets the first job back; a maintenance fire runs
only in the process whose conditional update of the last fire time won. After downtime the missed
fires are caught up by the schedule's policy (once, all, none), from the last fire the store
remembers; a schedule never seen before starts from now (it does not fire its past).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from ..errors import InvalidStateError
from ..store.schedules import ScheduleStore
from .core import fires_between, next_fire, to_fire
from .registry import Schedule, ScheduleRegistry

MAX_SLEEP = 60.0  # wake at least this often: a schedule added elsewhere, a clock jump

log = structlog.get_logger("conveyor.schedule")


Enqueue = Callable[..., int]  # the task registry's enqueue(task, payload, **options) -> job id


@dataclass(frozen=True)
class Fired:
    schedule: str
    fire_at: datetime
    job_id: int | None  # None: a maintenance action ran


@dataclass(frozen=True)
class ScheduleView:
    """A schedule as `schedule list` and the operator API show it."""

    name: str
    cron: str
    tz: str
    task: str | None
    catch_up: str
    next_run: datetime | None
    last_run: datetime | None
    status: str  # "active", or why not


class Scheduler:
    def __init__(
        self,
        registry: ScheduleRegistry,
        store: Callable[[], Any],
        enqueue: Enqueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._store = store
        self._enqueue = enqueue
        self._clock = clock

    def _slice(self) -> ScheduleStore:
        store: ScheduleStore = self._store()
        return store

    def tick(self) -> list[Fired]:
        """Fire what is due now; return what this process fired."""
        now_ts = self._clock()
        now = datetime.fromtimestamp(now_ts, UTC)
        last = self._slice().last_fires()
        fired: list[Fired] = []
        for schedule in self._registry:
            if self._registry.inactive_reason(schedule):
                continue
            record = last.get(schedule.name)
            if record is None:  # first sight: remember now (fired_at 0: never ran), fire from here
                self._slice().mark_fired(schedule.name, now_ts, 0.0)
                continue
            since = datetime.fromtimestamp(record.last_fire_at, UTC)
            fires = fires_between(schedule.cron, schedule.tz, since, now)
            if not fires:
                continue
            due = to_fire(fires, schedule.catch_up)
            for fire_at in due:
                fired.extend(self._fire(schedule, fire_at, now_ts))
            # Skipped fires (catch_up="none") are passed for good, without counting as a run.
            ran_at = now_ts if due else record.fired_at
            self._slice().mark_fired(schedule.name, fires[-1].timestamp(), ran_at)
        return fired

    def _fire(self, schedule: Schedule, fire_at: datetime, now_ts: float) -> list[Fired]:
        if schedule.action is not None:
            if not self._slice().claim_fire(schedule.name, fire_at.timestamp(), now_ts):
                return []
            schedule.action(self._store())
            log.info("schedule.ran", schedule=schedule.name, fire_at=fire_at.isoformat())
            return [Fired(schedule.name, fire_at, None)]
        assert schedule.task is not None
        job_id = self._enqueue(
            schedule.task,
            schedule.payload,
            idempotency_key=schedule.fire_key(fire_at),
            **schedule.options,
        )
        log.info(
            "schedule.fired", schedule=schedule.name, fire_at=fire_at.isoformat(), job_id=job_id
        )
        return [Fired(schedule.name, fire_at, job_id)]

    def run_now(self, name: str) -> Fired:
        """Fire a schedule now, outside its cron ("run now"): a job of its task, without the
        fire's idempotency key (each call enqueues one), or its maintenance action here. Its
        cron fires are unchanged: the next one still fires, and is not counted as run."""
        schedule = self._registry.get(name)  # UnknownSchedule
        reason = self._registry.inactive_reason(schedule)
        if reason:
            raise InvalidStateError(f"schedule {name!r} cannot run: {reason}")
        now = datetime.fromtimestamp(self._clock(), UTC)
        if schedule.action is not None:
            schedule.action(self._store())
            log.info("schedule.run_now", schedule=name)
            return Fired(name, now, None)
        assert schedule.task is not None
        job_id = self._enqueue(schedule.task, schedule.payload, **schedule.options)
        log.info("schedule.run_now", schedule=name, job_id=job_id)
        return Fired(name, now, job_id)

    def seconds_until_next(self) -> float:
        now = datetime.fromtimestamp(self._clock(), UTC)
        nexts = [next_fire(s.cron, s.tz, now) for s in self._registry]
        if not nexts:
            return MAX_SLEEP
        return max(0.0, min(MAX_SLEEP, (min(nexts) - now).total_seconds()))

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick until cancelled (a side task of the worker or of `conveyor serve`)."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception as error:  # an outage or a failing action: log, try again
                log.warning("schedule.tick_failed", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.seconds_until_next() + 0.01)

    def views(self) -> list[ScheduleView]:
        now = datetime.fromtimestamp(self._clock(), UTC)
        last = self._slice().last_fires()
        views = []
        for s in self._registry:
            record = last.get(s.name)
            reason = self._registry.inactive_reason(s)
            views.append(
                ScheduleView(
                    s.name,
                    s.cron,
                    s.tz,
                    s.task or "(maintenance)",
                    s.catch_up,
                    None if reason else next_fire(s.cron, s.tz, now),
                    None
                    if record is None or not record.fired_at
                    else datetime.fromtimestamp(record.fired_at, UTC),
                    reason or "active",
                )
            )
        return views
