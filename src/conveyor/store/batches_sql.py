"""The batches slice on both dialects: the same code, the SQL per dialect. The jobs slices of
both dialects inherit it, for `_settle_batches` (run inside their completion transactions)."""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from ..job import NewJob
from .batches import BatchRecord, BatchStore, NewBatch, ProgressRow, callback_job
from .common import decode_json
from .shared import Cursor, SQLStore


class SQLBatches(SQLStore, BatchStore):
    @abstractmethod
    def _enqueue_with(self, cur: Any, jobs: Sequence[NewJob]) -> list[int]:
        """Store jobs in the open transaction of `cur` (the dialect's jobs slice)."""

    @abstractmethod
    def _callers(self, connection: Any) -> AbstractContextManager[Any]:
        """A cursor in the caller's own transaction (`db=`: the dialect's jobs slice)."""

    def create_batch(
        self, batch: NewBatch, jobs: Sequence[NewJob], connection: Any = None
    ) -> tuple[int, list[int]]:
        """`connection`: the caller's own (`db=`), so the batch exists if its transaction
        commits; else one transaction of the store's."""
        params = self._with_now(
            {
                "name": batch.name,
                "on_complete": batch.on_complete,
                "on_failure": batch.on_failure,
                "payload": batch.payload,
                "callback_options": json.dumps(batch.callback_options),
            }
        )
        with self._write() if connection is None else self._callers(connection) as cur:
            batch_id = int(cur.execute(self._q["batch_create"], params).fetchone()[0])
            for job in jobs:
                job.batch_id = batch_id
            ids = self._enqueue_with(cur, jobs)
            self._notify(cur)  # PostgreSQL: NOTIFY is delivered when the transaction commits
        return batch_id, ids

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        with self._read(records=True) as cur:
            row = cur.execute(self._q["batch_get"], {"id": batch_id}).fetchone()
            if row is None:
                return None
            counts = self._batch_counts(cur, [batch_id])
        return _record(row, counts.get(batch_id, {}))

    def list_batches(
        self, limit: int = 50, before_id: int | None = None, state: str | None = None
    ) -> list[BatchRecord]:
        params = {"limit": limit, "before_id": before_id, "state": state}
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["batch_list"], params).fetchall()
            counts = self._batch_counts(cur, [row["id"] for row in rows]) if rows else {}
        return [_record(row, counts.get(row["id"], {})) for row in rows]

    def _batch_counts(self, cur: Cursor, ids: Iterable[int]) -> dict[int, dict[str, int]]:
        found: dict[int, dict[str, int]] = {}
        for row in cur.execute(self._q["batch_counts"], {"ids": self._array(ids)}).fetchall():
            batch_id, state, n = tuple(row.values()) if isinstance(row, dict) else tuple(row)
            found.setdefault(int(batch_id), {})[str(state)] = int(n)
        return found

    def record_progress(self, rows: Sequence[ProgressRow]) -> None:
        if not rows:
            return
        with self._write_one() as cur:
            self._write_progress(cur, rows)

    def _write_progress(self, cur: Cursor, rows: Sequence[ProgressRow]) -> None:
        """Both dialects take the rows as arrays of objects (SQLite) or columns (PostgreSQL)."""
        if not rows:
            return
        if self.dialect == "sqlite":
            objects = [{"id": i, "token": t, "done": d, "total": n} for i, t, d, n in rows]
            cur.execute(self._q["job_progress"], {"rows": json.dumps(objects)})
            return
        columns = {
            "ids": [r[0] for r in rows],
            "tokens": [r[1] for r in rows],
            "dones": [r[2] for r in rows],
            "totals": [r[3] for r in rows],
        }
        cur.execute(self._q["job_progress"], columns)

    def _settle_batches(self, cur: Cursor, batch_ids: Iterable[int | None]) -> None:
        """Finish every batch among these whose members are all final, and enqueue its callback:
        in the caller's transaction, after it wrote the members' new states."""
        ids = sorted({batch_id for batch_id in batch_ids if batch_id is not None})
        if not ids:
            return
        q = self._q
        open_ids = [int(row[0]) for row in cur.execute(q["batch_lock"], {"ids": self._array(ids)})]
        if not open_ids:
            return
        params = self._with_now({"ids": self._array(open_ids)})
        finished = cur.execute(q["batch_finish"], params).fetchall()
        callbacks = [(int(row[0]), callback_job(row)) for row in finished]
        jobs = [job for _, job in callbacks if job is not None]
        if not jobs:
            return
        job_ids = iter(self._enqueue_with(cur, jobs))
        for batch_id, job in callbacks:
            if job is not None:
                cur.execute(q["batch_callback_job"], {"id": batch_id, "job_id": next(job_ids)})
        self._notify(cur)


def _record(row: Any, counts: dict[str, int]) -> BatchRecord:
    return BatchRecord(
        id=int(row["id"]),
        name=row["name"],
        state=str(row["state"]),
        on_complete=row["on_complete"],
        on_failure=row["on_failure"],
        payload=decode_json(row["payload"]),
        callback_job_id=row["callback_job_id"],
        created_at=_when(row["created_at"]),
        finished_at=_when(row["finished_at"]),
        counts=counts,
    )


def _when(value: Any) -> datetime | None:
    """SQLite keeps epoch seconds, psycopg gives datetimes."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), UTC)
