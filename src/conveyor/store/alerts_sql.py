"""The alerts slice on both dialects: the same code, the SQL per dialect."""

from __future__ import annotations

from .alerts import AlertStore, SentAlert
from .shared import SQLStore


class SQLAlerts(SQLStore, AlertStore):
    def claim_alert(
        self, kind: str, subject: str, window_start: float, now: float, text: str
    ) -> bool:
        values = {"kind": kind, "subject": subject, "window": window_start, "now": now}
        with self._write_one() as cur:
            done = cur.execute(self._q["alert_claim"], {**values, "text": text})
            return int(done.rowcount) > 0

    def recent_alerts(self, limit: int = 50) -> list[SentAlert]:
        with self._read() as cur:
            rows = cur.execute(self._q["alert_recent"], {"limit": limit}).fetchall()
        return [SentAlert(str(r[0]), str(r[1]), float(r[2]), float(r[3]), str(r[4])) for r in rows]
