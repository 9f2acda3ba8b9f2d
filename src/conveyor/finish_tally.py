"""The last hour's finished jobs per second, queue and state, kept by a server process and read
from the store a few seconds at a time.

The overview's throughput chart and the shared counts' succeeded and cancelled jobs "finished
in the last hour" were each a read of every job that finished in the hour: 360,000 index
entries at 100 jobs/s, read once a second by a polled dashboard, and 60 ms of the database's
CPU a read after a burst of 60,000 jobs. The tally reads the whole hour once, then only from
its newest second less `OVERLAP` (a job's finish time is stamped when its completion is
written, and committed within milliseconds of it), and reads the whole hour again every
`FULL_EVERY` seconds or after `forget()` (an operator's action), so whatever an incremental
read missed (a deleted or retried job, a commit slower than the overlap) is right again within
a minute. The seconds come from the store's own times, so a server clock that drifts from the
database's does not skew what is read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

WINDOW = 3600.0  # seconds kept: the hour the chart and the counts show
OVERLAP = 2  # seconds before the newest one seen that each read takes again
FULL_EVERY = 60.0  # seconds between two reads of the whole hour

# (second, queue, state, count) rows of the jobs finished since a time (the store's
# `finished_per_second`).
Reader = Callable[[float], list[tuple[int, str, str, int]]]
Seconds = Mapping[int, Mapping[tuple[str, str], int]]


@dataclass(frozen=True)
class Minute:
    """Jobs that finished in one minute (`at`: its start, epoch seconds), by final state."""

    at: float
    succeeded: int = 0
    dead: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.dead + self.cancelled


def per_minute(rows: Mapping[int, Mapping[str, int]], now: float, minutes: int) -> list[Minute]:
    """{minute (epoch // 60): {state: count}} as the last `minutes` minutes, oldest first, the
    current one last, empty minutes included."""
    now_minute = int(now // 60)
    first = now_minute - minutes + 1
    return [
        Minute(
            m * 60.0,
            rows.get(m, {}).get("succeeded", 0),
            rows.get(m, {}).get("dead", 0),
            rows.get(m, {}).get("cancelled", 0),
        )
        for m in range(first, now_minute + 1)
    ]


class FinishTally:
    """One per server process (`ops.shared`); its reads run one at a time."""

    def __init__(
        self,
        read: Reader,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read, self._clock, self._monotonic = read, clock, monotonic
        self._seconds: dict[int, dict[tuple[str, str], int]] = {}
        self._full_at: float | None = None  # monotonic time of the last whole-hour read
        self._lock = threading.Lock()

    def forget(self) -> None:
        """The next read takes the whole hour (after an action that changed finished jobs)."""
        self._full_at = None

    def read(self) -> Seconds:
        """Bring the tally up to date; a snapshot of it, {second: {(queue, state): count}}."""
        with self._lock:
            return self._read_more()

    def _read_more(self) -> Seconds:
        now = self._clock()
        window_start = int(now - WINDOW)
        full = self._full_at is None or self._monotonic() - self._full_at >= FULL_EVERY
        if full or not self._seconds:
            start = window_start
        else:
            start = max(window_start, max(self._seconds) - OVERLAP)
        rows = self._read(float(start))
        if full:
            self._full_at = self._monotonic()
        kept = {s: c for s, c in self._seconds.items() if window_start <= s < start}
        for second, queue, state, n in rows:
            kept.setdefault(second, {})[(queue, state)] = n
        self._seconds = kept  # replaced, never changed: the snapshot handed out stays as it was
        return kept


def finished_counts(seconds: Seconds, states: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """{queue: {state: count}} of the tally's jobs in `states`."""
    counts: dict[str, dict[str, int]] = {}
    for by in seconds.values():
        for (queue, state), n in by.items():
            if state in states:
                into = counts.setdefault(queue, {})
                into[state] = into.get(state, 0) + n
    return counts


def minutes_of(seconds: Seconds) -> dict[int, dict[str, int]]:
    """{minute: {state: count}} of the tally, every queue together."""
    found: dict[int, dict[str, int]] = {}
    for second, by in seconds.items():
        into = found.setdefault(second // 60, {})
        for (_, state), n in by.items():
            into[state] = into.get(state, 0) + n
    return found
