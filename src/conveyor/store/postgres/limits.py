"""PostgreSQL, the limits slice: the database's clock, so workers on many machines agree, and an
advisory lock per breaker and hold name (`BREAKER_LOCK`, `HOLD_LOCK`), since the first change
has no row to lock."""

from __future__ import annotations

from dataclasses import asdict

from ...breaker import BreakerRecord
from ...politeness import Hold
from ...ratelimit import RateLimit, wait_after_denial
from ..limits import (
    BreakerChange,
    Bucket,
    HoldChange,
    breaker_record,
    held_bucket_tat,
    hold_record,
)
from .connection import BREAKER_LOCK, HOLD_LOCK, PostgresConnection


class PostgresLimits(PostgresConnection):
    def clock(self) -> float:
        with self._conn() as conn:
            row = conn.execute(self._q["clock"]).fetchone()
        return float(row[0]) if row else 0.0

    def take_token(self, name: str, limit: RateLimit) -> float:
        """Two autocommit statements: each one's now() is its own time, not a transaction's."""
        params = {"name": name, "interval": limit.interval, "burst": limit.burst}
        with self._conn() as conn:
            if conn.execute(self._q["rate_take"], params).fetchone() is not None:
                return 0.0
            row = conn.execute(self._q["rate_peek"], params).fetchone()
        if row is None:  # removed meanwhile: the next try will create it
            return 0.001
        return wait_after_denial(float(row[0]), float(row[1]), limit)

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        with self._tx(records=True) as cur:
            cur.execute(self._q["breaker_lock"], {"lock": BREAKER_LOCK, "name": name})
            row = cur.execute(self._q["breaker_get"], {"name": name}).fetchone()
            before = None if row is None else breaker_record(row)
            now_row = cur.execute(self._q["clock"]).fetchone()
            assert now_row is not None
            after = change(before, float(next(iter(now_row.values()))))
            if after is not None:
                cur.execute(self._q["breaker_put"], asdict(after))
        return before, after

    def change_hold(
        self, name: str, change: HoldChange, bucket: Bucket | None = None
    ) -> tuple[Hold | None, Hold | None]:
        with self._tx(records=True) as cur:
            cur.execute(self._q["hold_lock"], {"lock": HOLD_LOCK, "name": name})
            row = cur.execute(self._q["hold_get"], {"name": name}).fetchone()
            before = None if row is None else hold_record(row)
            now_row = cur.execute(self._q["clock"]).fetchone()
            assert now_row is not None
            now = float(next(iter(now_row.values())))
            after = change(before, now)
            if after is not None:
                cur.execute(self._q["hold_put"], asdict(after))
                if bucket is not None:
                    tat = held_bucket_tat(after, now, bucket[1])
                    cur.execute(self._q["rate_hold"], {"name": bucket[0], "tat": tat})
        return before, after
