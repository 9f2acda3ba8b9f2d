"""The records slice in SQL, the same on both dialects but for how JSON travels: SQLite keeps
JSON as text, PostgreSQL as JSONB (sent as text, read back decoded)."""

from __future__ import annotations

import json
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from ..job import NewJob
from .records import ITEM, PageWrite, RunMode, RunState, StoredRecord, SyncRun
from .shared import Cursor, SQLStore


class SQLRecords(SQLStore):
    @abstractmethod
    def _enqueue_with(self, cur: Any, jobs: Sequence[NewJob]) -> list[int]:
        """The jobs slice's enqueue on an open transaction (each dialect's jobs module)."""

    def open_run(self, source: str, owner: str, mode: RunMode, since: float | None) -> SyncRun:
        params = {"source": source, "owner": owner, "mode": mode, "since": since}
        with self._write(records=True) as cur:
            row = cur.execute(self._q["run_running"], params).fetchone()
            if row is None:
                row = cur.execute(self._q["run_reopen"], {**params, "now": time.time()}).fetchone()
            if row is None:
                row = cur.execute(self._q["run_insert"], {**params, "now": time.time()}).fetchone()
            if row is None:  # another process opened it between the two statements
                row = cur.execute(self._q["run_running"], params).fetchone()
        return self._run(row)

    def get_run(self, run_id: int) -> SyncRun | None:
        with self._read(records=True) as cur:
            row = cur.execute(self._q["run_get"], {"run": run_id}).fetchone()
        return None if row is None else self._run(row)

    def known_hashes(
        self, source: str, owner: str, external_ids: Sequence[str]
    ) -> dict[str, tuple[str, bool]]:
        if not external_ids:
            return {}
        params = {"source": source, "owner": owner, "ids": self._array(external_ids)}
        with self._read() as cur:
            rows = cur.execute(self._q["record_hashes"], params).fetchall()
        return {row[0]: (row[1], bool(row[2])) for row in rows}

    def page_hashes(self, source: str, owner: str) -> dict[str, str]:
        params = {"source": source, "owner": owner}
        with self._read() as cur:
            rows = cur.execute(self._q["page_hashes"], params).fetchall()
        return {row[0]: row[1] for row in rows}

    def write_page(self, run_id: int, source: str, owner: str, page: PageWrite) -> list[int]:
        now = time.time()
        scope = {"source": source, "owner": owner, "run": run_id, "now": now}
        with self._write() as cur:
            job_ids = self._enqueue_with(cur, page.jobs) if page.jobs else []
            if page.writes:
                # The last write of a key wins (a child id twice in one item).
                unique = {(w.kind, w.parent, w.external_id): w for w in page.writes}
                cur.executemany(  # type: ignore[attr-defined]
                    self._q["record_upsert"],
                    [
                        {
                            **scope,
                            "kind": w.kind,
                            "parent": w.parent,
                            "external_id": w.external_id,
                            "data": w.data_json,
                            "hash": w.content_hash,
                        }
                        for w in unique.values()
                    ],
                )
            if page.page_key is not None:
                params = {
                    **scope,
                    "page_key": page.page_key,
                    "body_hash": page.body_hash,
                    "ids": self._array(page.ids),
                }
                cur.execute(self._q["page_upsert"], params)
            if page.rewritten_parents:
                parents = self._array(page.rewritten_parents)
                cur.execute(self._q["record_drop_children"], {**scope, "parents": parents})
            self._progress(cur, run_id, page.checkpoint, page.stats, now)
        return job_ids

    def _progress(
        self,
        cur: Cursor,
        run_id: int,
        checkpoint: Mapping[str, Any] | None,
        stats: Mapping[str, int],
        now: float,
    ) -> None:
        params = {
            "run": run_id,
            "checkpoint": None if checkpoint is None else json.dumps(checkpoint),
            "stats": json.dumps(dict(stats)),
            "now": now,
        }
        cur.execute(self._q["run_progress"], params)

    def finish_run(
        self,
        run_id: int,
        source: str,
        owner: str,
        *,
        state: RunState,
        stats: Mapping[str, int],
        errors: Sequence[Mapping[str, Any]],
        cursor: Any,
        delete_unseen: bool,
    ) -> int:
        now = time.time()
        scope = {"source": source, "owner": owner, "run": run_id, "now": now}
        with self._write() as cur:
            deleted = 0
            if delete_unseen:
                self._collect_seen(cur, scope)
                deleted = int(cur.execute(self._q["record_delete_unseen"], scope).rowcount)
                if deleted:
                    cur.execute(self._q["record_delete_orphans"], scope)
                cur.execute(self._q["pages_drop_stale"], scope)
            final = {**stats, "deleted": int(stats.get("deleted", 0)) + deleted}
            params = {
                "run": run_id,
                "state": state,
                "stats": json.dumps(final),
                "errors": json.dumps(list(errors), default=str),
                "cursor": None if cursor is None else json.dumps(cursor),
                "complete": delete_unseen,
                "now": now,
            }
            cur.execute(self._q["run_finish"], params)
        return deleted

    def _collect_seen(self, cur: Cursor, scope: Mapping[str, Any]) -> None:
        """Where the dialect gathers the run's seen ids first (PostgreSQL: a keyed temporary
        table); SQLite's NOT IN reads them straight from the pages."""
        if "seen_table" in self._q:
            cur.execute(self._q["seen_table"])
            cur.execute(self._q["seen_fill"], scope)

    def list_runs(
        self, source: str | None = None, owner: str | None = None, limit: int = 50
    ) -> list[SyncRun]:
        params = {"source": source, "owner": owner, "limit": limit}
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["run_list"], params).fetchall()
        return [self._run(row) for row in rows]

    def run_owners(self, source: str) -> list[str]:
        with self._read() as cur:
            rows = cur.execute(self._q["run_owners"], {"source": source}).fetchall()
        return [row[0] for row in rows]

    def last_cursor(self, source: str, owner: str) -> Any:
        with self._read() as cur:
            row = cur.execute(
                self._q["run_last_cursor"], {"source": source, "owner": owner}
            ).fetchone()
        return None if row is None else self._json(row[0])

    def get_record(
        self, source: str, owner: str, external_id: str, *, kind: str = ITEM, parent: str = ""
    ) -> StoredRecord | None:
        params = {
            "source": source,
            "owner": owner,
            "kind": kind,
            "parent": parent,
            "id": external_id,
        }
        with self._read(records=True) as cur:
            row = cur.execute(self._q["record_get"], params).fetchone()
        return None if row is None else self._record(row)

    def list_records(
        self,
        source: str,
        *,
        owner: str | None = None,
        kind: str = ITEM,
        deleted: bool | None = False,
        after: tuple[str, str, str] | None = None,
        limit: int = 100,
    ) -> list[StoredRecord]:
        start = after or ("", "", "")  # an external id is never empty: this is before all
        params = {
            "source": source,
            "owner": owner,
            "kind": kind,
            "deleted": deleted,
            "after_owner": start[0],
            "after_parent": start[1],
            "after_id": start[2],
            "limit": limit,
        }
        with self._read(records=True) as cur:
            rows = cur.execute(self._q["record_list"], params).fetchall()
        return [self._record(row) for row in rows]

    # -- rows -------------------------------------------------------------------------------

    def _json(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value) if self.dialect == "sqlite" else value

    def _run(self, row: Any) -> SyncRun:
        return SyncRun(
            id=int(row["id"]),
            source=row["source"],
            owner=row["owner"],
            state=row["state"],
            mode=row["mode"],
            since=row["since"],
            started_at=float(row["started_at"]),
            updated_at=float(row["updated_at"]),
            finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
            stats=self._json(row["stats"]) or {},
            errors=self._json(row["errors"]) or [],
            checkpoint=self._json(row["checkpoint"]),
            cursor=self._json(row["cursor"]),
        )

    def _record(self, row: Any) -> StoredRecord:
        return StoredRecord(
            source=row["source"],
            owner=row["owner"],
            kind=row["kind"],
            parent=row["parent"],
            external_id=row["external_id"],
            data=self._json(row["data"]),
            content_hash=row["content_hash"],
            first_seen_at=float(row["first_seen_at"]),
            last_seen_at=float(row["seen_at"]),
            updated_at=float(row["updated_at"]),
            deleted_at=None if row["deleted_at"] is None else float(row["deleted_at"]),
        )
