"""The schedules slice on both dialects: the same code, the SQL per dialect."""

from __future__ import annotations

from .schedules import FireRecord, ScheduleStore
from .shared import SQLStore


class SQLSchedules(SQLStore, ScheduleStore):
    def last_fires(self) -> dict[str, FireRecord]:
        with self._read() as cur:
            rows = cur.execute(self._q["schedule_last_fires"]).fetchall()
        return {str(r[0]): FireRecord(str(r[0]), float(r[1]), float(r[2])) for r in rows}

    def mark_fired(self, name: str, fire_at: float, now: float) -> None:
        with self._write_one() as cur:
            cur.execute(self._q["schedule_mark"], {"name": name, "fire": fire_at, "now": now})

    def claim_fire(self, name: str, fire_at: float, now: float) -> bool:
        with self._write_one() as cur:
            done = cur.execute(
                self._q["schedule_claim"], {"name": name, "fire": fire_at, "now": now}
            )
            return int(done.rowcount) > 0
