"""The SQLite connection and the dialect's side of the shared seam (`SQLStore`).

One connection per process, in WAL mode, shared by the store's threads under a lock. SQLite
serialises writers, so every write is one short `BEGIN IMMEDIATE` transaction: a writer queues
behind another (busy timeout) instead of failing when it would upgrade a read lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import ConfigurationError, StoreError, StoreUnavailable
from ...job import Job, utc
from ...workers import WorkerRecord
from .. import queries
from ..base import with_schema_hint
from ..common import job_from_row, worker_from_row
from ..shared import Cursor, SQLStore


def sqlite_path(url: str) -> str:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite:///:memory:`."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc not in ("", "localhost"):
        raise ConfigurationError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigurationError(f"SQLite URL has no file path: {url!r}")
    return path


def split_statements(sql: str) -> list[str]:
    """A script's statements: sqlite3 runs one per `execute`, and `executescript` would commit."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def main_file(conn: sqlite3.Connection, query: str) -> str:
    """The file of a connection's `main` database ('' in memory)."""
    try:
        for _, name, file in conn.execute(query).fetchall():
            if name == "main":
                return str(file or "")
    except sqlite3.Error as error:
        raise StoreError(f"SQLite: {error}") from error
    return ""


class SQLiteConnection(SQLStore):
    dialect = "sqlite"

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        self.url = url
        self.path = sqlite_path(url)
        options = parse_qs(urlsplit(url).query)
        synchronous = options.get("synchronous", ["normal"])[0].upper()
        if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigurationError(f"unknown SQLite synchronous mode: {synchronous!r}")
        folder = os.path.dirname(os.path.abspath(self.path))
        if self.path != ":memory:" and not os.path.isdir(folder):
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: no folder {folder}")
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open SQLite database {self.path!r}: {error}") from error
        self._lock = threading.RLock()
        self._q = queries.load("sqlite")
        # Read once, here: the outbox check (`db=`) must not take the lock, since the caller's
        # open transaction may hold the write lock a worker thread is waiting for under it.
        self.own_file = main_file(self._conn, self._q["database_identity"])

    # -- transactions -----------------------------------------------------------------------

    @contextmanager
    def _write(self, records: bool = False) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StoreError(f"SQLite: {error}") from error
            try:
                yield cur
            except sqlite3.Error as error:
                self._conn.rollback()
                raise StoreError(with_schema_hint(f"SQLite: {error}")) from error
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()
            finally:
                cur.close()

    @contextmanager
    def _read(self, records: bool = False) -> Iterator[sqlite3.Cursor]:
        """(`sqlite3.Row` reads by position and by name: `records` changes nothing here.)"""
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
            except sqlite3.Error as error:
                raise StoreError(with_schema_hint(f"SQLite: {error}")) from error
            finally:
                cur.close()

    def _write_one(self) -> AbstractContextManager[sqlite3.Cursor]:
        return self._write()

    # -- the rest of the seam ---------------------------------------------------------------

    def _array(self, values: Iterable[Any]) -> str:
        return json.dumps(list(values))

    def _with_now(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, "now": time.time()}

    def _job(self, row: Any) -> Job:
        return job_from_row(row, utc, json_text=True)

    def _worker(self, row: Any) -> WorkerRecord:
        return worker_from_row(row, utc, json_text=True)

    def _lock_migrations(self, cur: Cursor) -> None:
        """Nothing to do: `BEGIN IMMEDIATE` holds the database's one write lock."""

    def _run_script(self, cur: Cursor, sql: str) -> None:
        for statement in split_statements(sql):
            cur.execute(statement)

    # -- wake-ups ---------------------------------------------------------------------------

    def change_counter(self) -> int:
        """Changes when another connection commits: a cheap "anything new?" for polling."""
        with self._read() as cur:
            return int(cur.execute(self._q["change_counter"]).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
