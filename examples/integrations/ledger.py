"""The application's own tables: where the processing jobs put what they make of the data.

Every write is an upsert on the item's id, so a processing job that runs twice (a retry after
a crash between its write and its completion) leaves one row; `writes` counts how often a row
was written, which is how the test sees a retry without a duplicate. SQLite or PostgreSQL: the
same database as the jobs, one connection per thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import psycopg

TABLE = """CREATE TABLE IF NOT EXISTS spark_ledger (
    kind TEXT NOT NULL, owner TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
    writes INTEGER NOT NULL, PRIMARY KEY (kind, id))"""
UPSERT = """INSERT INTO spark_ledger (kind, owner, id, data, writes) VALUES (?, ?, ?, ?, 1)
ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data, writes = spark_ledger.writes + 1"""


class Ledger:
    def __init__(self, database_url: Callable[[], str]) -> None:
        self._url = database_url  # read when first used: the CLI's --database-url may change it
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []  # every thread's connection, to close them all

    @property
    def url(self) -> str:
        return self._url()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.url.startswith("sqlite:///"):
                conn = sqlite3.connect(
                    self.url.removeprefix("sqlite:///"), timeout=30, check_same_thread=False
                )
                conn.isolation_level = None  # autocommit: one statement, one transaction
            else:
                conn = psycopg.connect(self.url, autocommit=True)
            conn.execute(TABLE)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _sql(self, sql: str) -> str:
        return sql if self.url.startswith("sqlite") else sql.replace("?", "%s")

    def put(self, kind: str, owner: str, item_id: str, data: Any) -> None:
        self._conn().execute(self._sql(UPSERT), (kind, owner, item_id, json.dumps(data)))

    def rows(self, kind: str, owner: str | None = None) -> dict[str, dict[str, Any]]:
        """{id: {"data": ..., "writes": n}} of one kind (and owner)."""
        sql = "SELECT id, data, writes FROM spark_ledger WHERE kind = ?"
        params: tuple[str, ...] = (kind,)
        if owner is not None:
            sql, params = sql + " AND owner = ?", (kind, owner)
        found = self._conn().execute(self._sql(sql), params).fetchall()
        return {row[0]: {"data": json.loads(row[1]), "writes": row[2]} for row in found}

    def drop(self) -> None:
        """For the test: the table is not one of Conveyor's, so it is not emptied between tests."""
        self._conn().execute("DROP TABLE IF EXISTS spark_ledger")
        self.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
