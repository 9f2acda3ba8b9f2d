"""Conveyor measured with the same harness and method as its peers (bench/peers/common.py).

Settings: workers are `conveyor --app bench.conveyor_app:app worker --concurrency 100`, one async
no-op task; `enqueue_single` is `app.enqueue()` per job (payload validated, one transaction each);
`enqueue_bulk` is `app.enqueue_many()` in chunks of 5,000. The keyed variant gives every job one of
1,000 ordering keys (`customer:<i mod 1000>`), enqueued round-robin so each key has jobs spread
over the whole run. `raw_insert` is the floor the single enqueue is compared with: the same row
inserted into the same table with a bare driver call and a commit per row, no Conveyor code.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.peers import common
from conveyor import Conveyor

CONCURRENCY = 100
KEYS = 1000
BULK_CHUNK = 5000
DB_NAME = "bench_conveyor"


class ConveyorHarness(common.Harness):
    def __init__(self, backend: str, keyed: bool, folder: Path) -> None:
        self.backend = backend
        self.keyed = keyed
        if backend == "sqlite":
            self.url = f"sqlite:///{folder / 'bench.db'}"
            self.path = folder / "bench.db"
        else:
            self.url = common.pg_dsn(DB_NAME)
        self.app: Conveyor | None = None

    # -- storage --------------------------------------------------------------------------

    def reset(self) -> None:
        if self.app is not None:
            self.app.close()
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            common.recreate_pg_database(DB_NAME)
        from bench.conveyor_app import app

        app.close()
        app.use_database(self.url)
        app.migrate()
        self.app = app

    def analyze(self) -> None:
        if self.backend == "postgres":
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("ANALYZE conveyor_jobs")

    def remaining(self) -> int:
        query = (
            "SELECT count(*) FROM conveyor_jobs"
            " WHERE state NOT IN ('succeeded', 'dead', 'cancelled')"
        )
        if self.backend == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                return int(conn.execute(query).fetchone()[0])
        with psycopg.connect(self.url, autocommit=True) as pg:
            row = pg.execute(query).fetchone()
            return int(row[0]) if row else 0

    # -- enqueue --------------------------------------------------------------------------

    def _options(self, i: int) -> dict[str, Any]:
        return {"key": f"customer:{i % KEYS}"} if self.keyed else {}

    def enqueue_single(self, n: int) -> None:
        assert self.app is not None
        for i in range(n):
            self.app.enqueue("noop", {}, **self._options(i))

    def enqueue_bulk(self, n: int) -> None:
        assert self.app is not None
        if not self.keyed:
            for start in range(0, n, BULK_CHUNK):
                self.app.enqueue_many("noop", [{}] * min(BULK_CHUNK, n - start))
            return
        jobs = [self.app.build_job("noop", {}, **self._options(i)) for i in range(n)]
        for start in range(0, n, BULK_CHUNK):
            self.app.store.enqueue(jobs[start : start + BULK_CHUNK])

    def enqueue_tagged(self, tag: str) -> None:
        assert self.app is not None
        self.app.enqueue("noop", {"tag": tag})

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = [
            common.venv_script("conveyor"),
            "--app",
            "bench.conveyor_app:app",
            "--database-url",
            self.url,
            "worker",
            "--concurrency",
            str(CONCURRENCY),
        ]
        return [command] * processes

    # -- the floor for single enqueue -----------------------------------------------------

    def paired_single(self, n: int, block: int = 100) -> tuple[float, float]:
        """(enqueue /s, raw insert /s) measured in alternating blocks of `block` rows on one
        table: the ratio the target asks for, free of the drift between two measurements taken
        minutes apart on a shared machine (the raw one was 20-40% apart from run to run)."""
        self.reset()
        assert self.app is not None
        insert, close = self._raw_inserter()
        spent = {"enqueue": 0.0, "raw": 0.0}
        try:
            for _ in range(max(1, n // (2 * block))):
                start = time.perf_counter()
                for _ in range(block):
                    self.app.enqueue("noop", {})
                spent["enqueue"] += time.perf_counter() - start
                start = time.perf_counter()
                for _ in range(block):
                    insert()
                spent["raw"] += time.perf_counter() - start
        finally:
            close()
        rounds = max(1, n // (2 * block))
        return rounds * block / spent["enqueue"], rounds * block / spent["raw"]

    def _raw_inserter(self) -> tuple[Any, Any]:
        """One bare INSERT + COMMIT of the row Conveyor writes for an unkeyed job, and a close."""
        now = time.time()
        row = ("noop", "default", "{}", None, False, None, 0, "queued", 5, now, now)
        columns = (
            "task, queue, payload, key, leads_key, idempotency_key, priority, state,"
            " max_attempts, run_at"
        )
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            sql = f"INSERT INTO conveyor_jobs ({columns}, created_at) VALUES ({'?, ' * 10}?)"
            return (lambda: conn.execute(sql, row)), conn.close
        pg = psycopg.connect(self.url, autocommit=True)
        pg_sql = (
            f"INSERT INTO conveyor_jobs ({columns})"
            " VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, now()) RETURNING id"
        )
        return (lambda: pg.execute(pg_sql, row[:9]).fetchone()), pg.close

    def raw_insert(self, n: int) -> float:
        """Rows/s of a bare INSERT + COMMIT per row into the jobs table."""
        self.reset()
        now = time.time()
        # The same columns Conveyor writes for an unkeyed job, bound by position.
        row = ("noop", "default", "{}", None, False, None, 0, "queued", 5, now, now)
        columns = (
            "task, queue, payload, key, leads_key, idempotency_key, priority, state,"
            " max_attempts, run_at"
        )
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            sql = f"INSERT INTO conveyor_jobs ({columns}, created_at) VALUES ({'?, ' * 10}?)"
            start = time.perf_counter()
            for _ in range(n):  # autocommit: each INSERT is its own committed transaction
                conn.execute(sql, row)
            elapsed = time.perf_counter() - start
            conn.close()
            return n / elapsed
        with psycopg.connect(self.url, autocommit=True) as pg:
            sql = (
                f"INSERT INTO conveyor_jobs ({columns})"
                " VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, now()) RETURNING id"
            )
            start = time.perf_counter()
            for _ in range(n):
                pg.execute(sql, row[:9]).fetchone()
            return n / (time.perf_counter() - start)


def run(jobs: int, backend: str, keyed: bool = False) -> dict[str, Any]:
    name = "conveyor" + (f" ({KEYS} keys)" if keyed else "")
    label = "sqlite" if backend == "sqlite" else "postgresql (psycopg)"
    result = common.new_result(name, label, settings=f"concurrency={CONCURRENCY}")
    with common.temp_dir("bench-conveyor-") as folder, common.UdpCollector() as collector:
        harness = ConveyorHarness(backend, keyed, folder)
        env = common.worker_env({**collector.env(), "CONVEYOR_DATABASE_URL": harness.url})
        try:
            common.run_standard(result, harness, jobs=jobs, env=env, collector=collector)
            if not keyed:
                raw = common.attempt(result, "raw_insert", lambda: harness.raw_insert(2000))
                result["raw_insert"] = common.rounded(raw)  # type: ignore[typeddict-unknown-key]
                paired = common.attempt(result, "paired", lambda: harness.paired_single(4000))
                if paired is not None:
                    result["paired_ratio"] = round(paired[0] / paired[1], 3)  # type: ignore[typeddict-unknown-key]
        finally:
            if harness.app is not None:
                harness.app.close()
            if backend == "postgres":
                common.drop_pg_database(DB_NAME)
    return dict(result)
