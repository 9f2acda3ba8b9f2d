"""Aggregate reads shared by every client of one server process, at most `max_age` seconds old.

The HTTP API's `/api/stats`, `/metrics`, the dashboard's overview and its live updates all read
the same aggregates: jobs per queue and state, the oldest wait per queue, the runnable jobs no
worker serves (and the dead-letter page its groups, the overview its throughput chart). Each is a
read of the whole live set (every queued, running, retrying, waiting and dead job), so its cost
grows with the backlog: 10-40 ms each for 60,000 such jobs at 1,000,000 in all, indexes read
alone. The last hour's finished jobs, in the counts and the chart, come from a tally read a few
seconds at a time (finish_tally.py). Read per request, ten clients polling once a second would
run them ten times a second against the store the workers share.
Read here, a server process runs each at most once per `max_age` however many clients ask, and a
request never waits for one that was read in the last `STALE_FOR` ages: the value read before is
answered and a fresh read starts in the background (stale-while-revalidate, as HTTP caches do).
This is what Oban's Met does (queue counts sampled once a second on one node and shared) and
what Horizon and Flower show: a live picture a second old, not a count per page view. A read
that grows costly (a backlog of 200,000 jobs to count) is kept longer, `COST_RATIO` times what it
took, so the pages' reads stay a small share of the database however big the backlog (Horizon
refreshes its dashboard every 3 s).

Exact reads stay where exactness is asked for: `ops.counts()` (the CLI's `conveyor stats`, the
Python API) reads the store every time. An operator action through this process (retry, cancel,
delete, enqueue, pause, resume) forgets the shared values, so the page that follows it shows it.
`max_age` 0 reads every time (`CONVEYOR_COUNTS_MAX_AGE`, `conveyor serve --counts-max-age`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .finish_tally import FinishTally, Minute, Reader, finished_counts, minutes_of, per_minute
from .store.overview import DeadGroup
from .workers import Unserved

T = TypeVar("T")

DEFAULT_MAX_AGE = 1.0
STALE_FOR = 3.0  # a value this many max ages old is still answered (and refreshed behind)
# A read that took T seconds is kept for at least COST_RATIO * T: however big the backlog a
# read counts, it takes at most 1/COST_RATIO of one database connection's time.
COST_RATIO = 50.0

log = logging.getLogger("conveyor.shared_reads")


class SharedRead(Generic[T]):
    """One aggregate read: fresh within `max_age`, answered stale (and refreshed in the
    background) up to `STALE_FOR` max ages, read in the request past that. Concurrent callers
    that must wait share one read."""

    def __init__(
        self,
        read: Callable[[], T],
        max_age: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()  # one read at a time, foreground or background
        self._value: T | None = None
        self._read_at: float | None = None  # when the read behind `_value` started
        self._generation = 0  # bumped by forget(): a read started before it is not kept
        self._refreshing = False
        self._took = 0.0  # how long the last read took (clock seconds)

    def max_age(self) -> float:
        """The age past which the value is read again: the setting, or longer for a read that
        costs more than 1/COST_RATIO of its period (0: read on every call)."""
        setting = self._max_age()
        return setting if setting <= 0 else max(setting, self._took * COST_RATIO)

    def get(self) -> T:
        max_age = self.max_age()
        if max_age <= 0:
            return self._read()
        now = self._clock()
        value, read_at = self._value, self._read_at
        if value is not None and read_at is not None:
            age = now - read_at
            if age < max_age:
                return value
            if age < max_age * STALE_FOR:
                self._refresh_behind()
                return value
        return self._read_now()

    def forget(self) -> None:
        """Drop the shared value: the next caller reads the store."""
        self._generation += 1
        self._value = None
        self._read_at = None

    def _read_now(self) -> T:
        with self._lock:
            value, read_at = self._value, self._read_at
            fresh = read_at is not None and self._clock() - read_at < self.max_age()
            if value is not None and fresh:
                return value  # read by the caller we waited for
            return self._store_read()

    def _store_read(self) -> T:
        generation = self._generation
        read_at = self._clock()
        value = self._read()
        self._took = max(0.0, self._clock() - read_at)
        if generation == self._generation:
            self._value, self._read_at = value, read_at
        return value

    def _refresh_behind(self) -> None:
        if self._refreshing:
            return
        self._refreshing = True
        threading.Thread(target=self._refresh, name="conveyor-shared-read", daemon=True).start()

    def _refresh(self) -> None:
        try:
            with self._lock:
                self._store_read()
        except Exception:  # the store is away: the next caller past STALE_FOR reads and sees it
            log.warning("shared read failed", exc_info=True)
        finally:
            self._refreshing = False


class SharedReads:
    """The operator service's shared aggregates (`ops.shared`): the same answers as its exact
    reads of the same name, at most `max_age` seconds old."""

    def __init__(
        self,
        live: Callable[[], tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]],
        finished_per_second: Reader,
        store_clock: Callable[[], float],
        runnable: Callable[[], tuple[dict[str, float], list[Unserved]]],
        dead_groups: Callable[[], list[DeadGroup]],
        max_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = DEFAULT_MAX_AGE if max_age is None else max_age
        age = lambda: self.max_age  # noqa: E731 (read at each call: settable after start)
        # The counts are the live set's (every unfinished and dead job), read whole, and the
        # last hour's succeeded and cancelled jobs from the tally (read a few seconds at a time).
        self._store_clock = store_clock
        self._tally = FinishTally(finished_per_second, store_clock, clock)
        self._finishes = SharedRead(self._tally.read, age, clock)
        # The live set's counts and oldest waits: one read of the backlog.
        self._live = SharedRead(lambda: self._merged(*live()), age, clock)
        # The oldest due job per queue and the jobs no worker serves: one read of the backlog.
        self._runnable = SharedRead(runnable, age, clock)
        self._dead_groups = SharedRead(dead_groups, age, clock)
        self._reads: tuple[SharedRead[Any], ...] = (
            self._finishes,
            self._live,
            self._runnable,
            self._dead_groups,
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """{queue: {state: count}}, as `ops.counts()`."""
        return self._live.get()[0]

    def throughput(self, minutes: int = 60) -> list[Minute]:
        """Jobs finished per minute over the last `minutes` (at most the hour), as
        `ops.throughput()`."""
        return per_minute(minutes_of(self._finishes.get()), self._store_clock(), minutes)

    def _merged(
        self, live: dict[str, dict[str, int]], waits: dict[str, dict[str, float]]
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
        recent = finished_counts(self._finishes.get(), ("succeeded", "cancelled"))
        for queue, states in recent.items():
            live.setdefault(queue, {}).update(states)
        counts = {queue: dict(sorted(states.items())) for queue, states in sorted(live.items())}
        return counts, waits

    def oldest_waits(self) -> dict[str, dict[str, float]]:
        """{queue: {state: seconds since its oldest unfinished job was created}}."""
        return self._live.get()[1]

    def oldest_due(self) -> dict[str, float]:
        """{queue: seconds its oldest due runnable job has waited} (`/metrics`)."""
        return self._runnable.get()[0]

    def jobs_without_worker(self) -> list[Unserved]:
        """Queued and retrying jobs, per task and queue, that no live worker can run."""
        return self._runnable.get()[1]

    def dead_groups(self) -> list[DeadGroup]:
        """Every dead job per task, connection and error class, the largest groups first (the
        dead-letter page without a filter: a walk of every dead job's index entry)."""
        return self._dead_groups.get()

    def forget(self) -> None:
        """After an action through this process: the next read is the store's."""
        self._tally.forget()
        for read in self._reads:
            read.forget()
