"""The overview slice: the aggregate reads an operator's screen needs (throughput per minute,
the oldest unfinished job per queue and state, dead jobs grouped by task, connection and error
class), each one indexed query. SQL: `sql/<dialect>/overview.sql`; tests:
`tests/store/test_overview.py`.

The error class of a job is the `type` of its last attempt record (`RuntimeError`,
`PermanentStatus`): messages carry ids and would make one group per job. It is the generated
column `error_class` (migration 0019), so the groups' index holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..job import Job


@dataclass(frozen=True)
class DeadGroup:
    """Dead jobs of one task, connection (None: jobs for none) and error class ('': none
    recorded): how many, first and last death, the newest one's id and last error."""

    task: str
    connection: str | None
    error_class: str
    count: int
    first_at: float
    last_at: float
    sample: str | None
    newest_id: int


class OverviewStore:
    def finished_per_minute(self, since: float) -> list[tuple[int, str, int]]:
        """(minute as epoch // 60, final state, count) of the jobs finished since `since`."""
        raise NotImplementedError

    def finished_per_second(self, since: float) -> list[tuple[int, str, str, int]]:
        """(second as epoch // 1, queue, final state, count) of the jobs finished since `since`."""
        raise NotImplementedError

    def oldest_unfinished(self) -> list[tuple[str, str, float]]:
        """(queue, state, created_at of its oldest job) for every unfinished state."""
        raise NotImplementedError

    def live_summary(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, jobs, created_at of its oldest job; None for dead) for every unfinished
        state and dead: `stats`' live part and `oldest_unfinished` in one read (the shared
        reads': a backlog was walked by both)."""
        raise NotImplementedError

    def dead_groups(
        self, since: float | None, limit: int, connection: str | None = None
    ) -> list[DeadGroup]:
        """Dead jobs (dead since `since`; for `connection` alone if given) per task, connection
        and error class, the largest first."""
        raise NotImplementedError

    def dead_in_group(
        self,
        task: str,
        connection: str | None,
        error_class: str,
        since: float | None,
        limit: int,
    ) -> list[Job]:
        """The dead jobs of one group (dead since `since`), newest first."""
        raise NotImplementedError

    def dead_in_groups(
        self,
        groups: Sequence[tuple[str, str | None, str]],
        since: float | None,
        limit: int,
    ) -> list[list[Job]]:
        """The newest dead jobs of each (task, connection, error class) group, in the groups'
        order, in one read (the dead-letter page's 20 groups: one round trip, not 20)."""
        raise NotImplementedError

    def jobs_by_id(self, job_ids: list[int]) -> list[Job]:
        """These jobs (the ones still there), in one read: a page showing many by id."""
        raise NotImplementedError
