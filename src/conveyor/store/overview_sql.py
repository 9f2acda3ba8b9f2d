"""The overview slice on both dialects: the same code, the SQL per dialect (times come back as
epoch seconds from both)."""

from __future__ import annotations

from ..job import Job
from .overview import DeadGroup, OverviewStore
from .shared import SQLStore


class SQLOverview(SQLStore, OverviewStore):
    def finished_per_minute(self, since: float) -> list[tuple[int, str, int]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_finished"], {"since": since}).fetchall()
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    def oldest_unfinished(self) -> list[tuple[str, str, float]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_oldest"]).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def dead_groups(self, since: float | None, limit: int) -> list[DeadGroup]:
        with self._read() as cur:
            rows = cur.execute(
                self._q["overview_dead_groups"], {"since": since, "limit": limit}
            ).fetchall()
        return [
            DeadGroup(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4]), r[5]) for r in rows
        ]

    def dead_in_group(
        self, task: str, error_class: str, since: float | None, limit: int
    ) -> list[Job]:
        params = {"task": task, "error_class": error_class, "since": since, "limit": limit}
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["overview_dead_in_group"], params).fetchall()
        return [self._job(row) for row in rows]
