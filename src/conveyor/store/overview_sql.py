"""The overview slice on both dialects: the same code, the SQL per dialect (times come back as
epoch seconds from both)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..job import Job
from .listing import placeholder
from .overview import DeadGroup, OverviewStore
from .shared import SQLStore


class SQLOverview(SQLStore, OverviewStore):
    def finished_per_minute(self, since: float) -> list[tuple[int, str, int]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_finished"], {"since": since}).fetchall()
        return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]

    def finished_per_second(self, since: float) -> list[tuple[int, str, str, int]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_finished_per_second"], {"since": since})
            return [(int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def oldest_unfinished(self) -> list[tuple[str, str, float]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_oldest"]).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def live_summary(self) -> list[tuple[str, str, int, float | None]]:
        with self._read() as cur:
            rows = cur.execute(self._q["overview_live"]).fetchall()
        return [
            (str(r[0]), str(r[1]), int(r[2]), None if r[3] is None else float(r[3])) for r in rows
        ]

    def dead_groups(
        self, since: float | None, limit: int, connection: str | None = None
    ) -> list[DeadGroup]:
        params = {"since": since, "limit": limit, "connection": connection}
        with self._read() as cur:
            sql = self._q["overview_dead_groups"].format(since=self._since(since))
            rows = cur.execute(sql, params).fetchall()
            # The sample: the newest job's last error, read apart (the grouping reads the
            # index alone; a max(last_error) read every dead job's row).
            newest = [int(r[6]) for r in rows]
            ids: object = json.dumps(newest) if self.dialect == "sqlite" else newest
            samples = dict(cur.execute(self._q["overview_dead_samples"], {"ids": ids}).fetchall())
        return [
            DeadGroup(
                str(r[0]),
                r[1],
                str(r[2]),
                int(r[3]),
                float(r[4]),
                float(r[5]),
                samples.get(int(r[6])),
                int(r[6]),
            )
            for r in rows
        ]

    def dead_in_group(
        self,
        task: str,
        connection: str | None,
        error_class: str,
        since: float | None,
        limit: int,
    ) -> list[Job]:
        return self.dead_in_groups([(task, connection, error_class)], since, limit)[0]

    def dead_in_groups(
        self,
        groups: Sequence[tuple[str, str | None, str]],
        since: float | None,
        limit: int,
    ) -> list[list[Job]]:
        """`dead_in_group` for several groups in one statement: each group's own walk of its
        index (the same SQL, its parameters numbered), all of them joined by UNION ALL."""
        if not groups:
            return []
        params: dict[str, Any] = {"since": since, "limit": limit}
        parts = []
        for n, (task, connection, error_class) in enumerate(groups):
            params.update({f"task_{n}": task, f"connection_{n}": connection})
            params[f"error_class_{n}"] = error_class or None
            one = self._q["overview_dead_in_group"].format(
                connection=self._equals(f"connection_{n}", connection),
                error_class=self._equals(f"error_class_{n}", error_class or None),
                since=self._since(since),
            )
            one = one.replace(
                placeholder(self.dialect, "task"), placeholder(self.dialect, f"task_{n}")
            )
            parts.append(f"SELECT {n} AS group_number, * FROM ({one}) AS group_{n}")
        found: list[list[Job]] = [[] for _ in groups]
        with self._read(records=True) as cur:
            for row in cur.execute(" UNION ALL ".join(parts), params):
                found[row["group_number"]].append(self._job(row))
        newest = lambda job: (job.finished_at.timestamp() if job.finished_at else 0.0, job.id)  # noqa: E731
        return [sorted(jobs, key=newest, reverse=True) for jobs in found]

    def jobs_by_id(self, job_ids: list[int]) -> list[Job]:
        ids: object = json.dumps(job_ids) if self.dialect == "sqlite" else job_ids
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["overview_jobs_by_id"], {"ids": ids}).fetchall()
        return [self._job(row) for row in rows]

    def _equals(self, name: str, value: str | None) -> str:
        """`= <the parameter>`, or `IS NULL`: each an index condition, in any plan."""
        if value is None:
            return "IS NULL"
        return f"= {placeholder(self.dialect, name)}"

    def _since(self, since: float | None) -> str:
        """The `since` range on finished_at, or nothing: an index condition in any plan."""
        if since is None:
            return ""
        if self.dialect == "sqlite":
            return "AND finished_at >= :since"
        return "AND finished_at >= to_timestamp(%(since)s::double precision)"
