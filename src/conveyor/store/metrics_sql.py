"""The metrics slice on both dialects: the same call, each dialect's clock in its SQL."""

from __future__ import annotations

from .metrics import MetricsStore
from .shared import SQLStore


class SQLMetrics(SQLStore, MetricsStore):
    def oldest_due(self) -> dict[str, float]:
        with self._read() as cur:
            rows = cur.execute(self._q["oldest_due"], self._with_now({})).fetchall()
        return {str(queue): max(float(age), 0.0) for queue, age in rows}

    def runnable_summary(self) -> list[tuple[str, str, int, float | None]]:
        with self._read() as cur:
            rows = cur.execute(self._q["runnable_summary"], self._with_now({})).fetchall()
        return [
            (str(queue), str(task), int(n), None if age is None else max(float(age), 0.0))
            for queue, task, n, age in rows
        ]
