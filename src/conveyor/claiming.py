"""How many jobs a worker claims at a time: up to its concurrency, or more while only quick sync
jobs run (claimed ahead, they wait for a thread instead of the next claim's round trip)."""

from __future__ import annotations

# Sync jobs are claimed ahead only while their calls take less than this on average: a job
# claimed ahead waits about one call for a thread, while another worker might have run it. Wall
# time, so GIL and CPU waits count: on a loaded machine a 20 us call can take milliseconds.
CLAIM_AHEAD_BELOW = 0.05


class ClaimSize:
    """The size of a worker's next claim, from what runs and what its sync calls took."""

    def __init__(self, concurrency: int, below: float = CLAIM_AHEAD_BELOW) -> None:
        self.concurrency = concurrency
        self.below = below  # claim ahead while sync calls take less than this on average
        self.sync_seconds: float | None = None  # a moving average of sync calls' durations

    def took(self, seconds: float) -> None:
        """A sync call's duration (wall time)."""
        last = self.sync_seconds
        self.sync_seconds = seconds if last is None else 0.9 * last + 0.1 * seconds

    def free(self, running: int, async_waiting: bool) -> int:
        """How many jobs to claim now, with `running` claimed and not ended.

        Up to `concurrency` run at once. While only quick sync jobs run (`async_waiting`: an
        async job runs or waits for a slot), up to as many again are claimed ahead (claims of at
        least half that, not one job at a time): sync ones wait in the queue of the threads, so
        these are not idle while the next claim is on its way to the database; an async one
        waits, not started, until fewer than `concurrency` run.
        """
        if self._ahead(async_waiting):
            room = 2 * self.concurrency - running
            return room if room >= self.concurrency // 2 else 0
        return self.concurrency - running

    def _ahead(self, async_waiting: bool) -> bool:
        if async_waiting or self.sync_seconds is None:
            return False
        return self.sync_seconds < self.below
