"""The metrics slice: what `/metrics` reads from the store at scrape time beside the counts per
queue and state (`stats`). SQL: `sql/<dialect>/metrics.sql`; tests: `tests/store/test_metrics.py`.
"""

from __future__ import annotations


class MetricsStore:
    def oldest_due(self) -> dict[str, float]:
        """{queue: seconds since its oldest runnable job (queued or retrying, due) became due},
        for the queues that have one."""
        raise NotImplementedError

    def runnable_summary(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, task, runnable jobs, seconds the oldest due one has waited, or None if none
        is due) per queue and task: one scan of the runnable jobs for both what `oldest_due`
        and `runnable_counts` read (a big backlog was walked twice a refresh)."""
        raise NotImplementedError
