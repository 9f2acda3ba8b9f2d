"""The application the end-to-end worker processes run, and the log its tasks write.

Every attempt inserts a row into `e2e_log` (in the jobs' own database) when it starts and updates
it when it ends, each in its own short transaction, so a test can read what really happened:
which process ran which attempt of which job, and when.

This module is imported by the tests (as part of the package) and by `runner.py` (as a plain
module next to it), so it only imports the standard library, the drivers and `conveyor`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from conveyor import Conveyor, Fixed, current_job
from conveyor.store.sqlite import sqlite_path

LOG_URL_VARIABLE = "CONVEYOR_E2E_LOG_URL"
SQLITE_TABLE = """
CREATE TABLE e2e_log (
    id INTEGER PRIMARY KEY, key TEXT, seq INTEGER, job_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL, pid INTEGER NOT NULL, started REAL NOT NULL, finished REAL,
    outcome TEXT
)
"""
POSTGRES_TABLE = """
CREATE TABLE e2e_log (
    id BIGSERIAL PRIMARY KEY, key TEXT, seq INTEGER, job_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL, pid INTEGER NOT NULL, started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION, outcome TEXT
)
"""


@dataclass(frozen=True, slots=True)
class Run:
    """One attempt as the task saw it. `finished` is None when the attempt never ended."""

    id: int
    key: str | None
    seq: int | None
    job_id: int
    attempt: int
    pid: int
    started: float
    finished: float | None
    outcome: str | None


class Recorder:
    """Writes and reads `e2e_log`: one connection per thread, autocommit, one statement each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.sqlite:
                conn = sqlite3.connect(sqlite_path(self.url), isolation_level=None, timeout=30)
                conn.execute("PRAGMA busy_timeout=30000")
            else:
                conn = psycopg.connect(self.url, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.sqlite:
            sql = sql.replace("%s", "?")
        cursor = self._connection().execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
        cursor.close()
        return [tuple(row) for row in rows]

    def create_table(self) -> None:
        self._execute("DROP TABLE IF EXISTS e2e_log")
        self._execute(SQLITE_TABLE if self.sqlite else POSTGRES_TABLE)

    def start(self, payload: dict[str, Any]) -> int:
        job = current_job()
        assert job is not None, "recorder.start() outside a job"
        rows = self._execute(
            "INSERT INTO e2e_log (key, seq, job_id, attempt, pid, started)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (job.key, payload.get("seq"), job.id, job.attempt, os.getpid(), time.time()),
        )
        return int(rows[0][0])

    def finish(self, run_id: int, outcome: str) -> None:
        self._execute(
            "UPDATE e2e_log SET finished = %s, outcome = %s WHERE id = %s",
            (time.time(), outcome, run_id),
        )

    def runs_before(self, run_id: int) -> int:
        """How many earlier attempts of the same job started (whatever became of them)."""
        rows = self._execute(
            "SELECT count(*) FROM e2e_log WHERE id < %s"
            " AND job_id = (SELECT job_id FROM e2e_log WHERE id = %s)",
            (run_id, run_id),
        )
        return int(rows[0][0])

    def runs(self) -> list[Run]:
        rows = self._execute(
            "SELECT id, key, seq, job_id, attempt, pid, started, finished, outcome"
            " FROM e2e_log ORDER BY id"
        )
        return [Run(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def make_app(url: str) -> Conveyor:
    """A Conveyor on `url` with the tasks below (the lease comes from CONVEYOR_LEASE_SECONDS).

    The tasks log to `url` too, or to the database named by CONVEYOR_E2E_LOG_URL.
    """
    app = Conveyor(url)
    log = Recorder(os.environ.get(LOG_URL_VARIABLE) or url)

    @app.task(key=lambda p: p.get("key"), retry=Fixed(0.02), max_attempts=5)
    def step(payload: dict[str, Any]) -> int:
        """Sleeps `sleep` seconds; its first `fail` attempts raise."""
        run = log.start(payload)
        time.sleep(payload.get("sleep", 0.0))
        job = current_job()
        assert job is not None
        if job.attempt <= payload.get("fail", 0):
            log.finish(run, "failed")
            raise RuntimeError(f"planned failure of attempt {job.attempt}")
        log.finish(run, "ok")
        return job.attempt

    @app.task(key=lambda p: p.get("key"), retry=Fixed(0), max_attempts=3)
    def slow(payload: dict[str, Any]) -> None:
        """Sleeps `first` seconds the first time the job runs, `then` seconds on later runs."""
        run = log.start(payload)
        time.sleep(payload["then"] if log.runs_before(run) else payload["first"])
        log.finish(run, "ok")

    @app.task(key=lambda p: p.get("key"), retry=Fixed(0), max_attempts=3)
    async def slow_async(payload: dict[str, Any]) -> None:
        """`slow` on the event loop, so that a shutdown can cancel it mid-sleep."""
        run = log.start(payload)
        try:
            await asyncio.sleep(payload["then"] if log.runs_before(run) else payload["first"])
        except asyncio.CancelledError:
            log.finish(run, "cancelled")
            raise
        log.finish(run, "ok")

    return app
