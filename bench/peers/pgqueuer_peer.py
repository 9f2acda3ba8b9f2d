"""pgqueuer (PostgreSQL, asyncpg) peer benchmark.

Settings (chosen from pgqueuer's "Performance Tuning" guide):

* Schema installed with ``pgq install`` (default ``durable`` durability: every table logged,
  the same crash guarantees as Conveyor) followed by ``pgq autovac`` (the recommended
  autovacuum settings for the high-churn queue table).
* Workers: ``python -m bench.peers.pgqueuer_peer worker``, which runs
  ``uvloop.run(pgqueuer.run(create_pgqueuer, batch_size=50))`` -- exactly what
  ``pgq run bench.peers.pgqueuer_peer:create_pgqueuer --batch-size 50`` does (the CLI of
  pgqueuer 1.6.0 crashes at start-up with typer 0.29: its ``--log-level`` default is not
  converted to the enum, so the documented programmatic entry point ``pgqueuer.run`` is
  used).  One ``PgQueuer`` per process on a dedicated ``asyncpg`` connection (the guide's
  advice: a direct connection, not a pool, for the ``QueueManager``), async no-op
  entrypoint, no per-process concurrency cap, LISTEN/NOTIFY wake-ups.  The guide says to
  raise ``batch_size`` (default 10) for short jobs; 50 was the best of 10/25/50/100 on this
  machine.
* Producer: ``Queries(AsyncpgDriver(asyncpg connection)).enqueue`` -- scalar arguments for
  one job per call (one INSERT statement, autocommit), list arguments for the batch API.
* remaining = ``count(*)`` of table ``pgqueuer`` (queued + picked jobs; a finished job is
  moved to ``pgqueuer_log`` by the worker's status-log buffer, flushed at ``batch_size``
  entries or every 0.1 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bench.peers import common

if TYPE_CHECKING:
    import asyncpg
    import psycopg
    from pgqueuer import PgQueuer, Queries

PEER = "pgqueuer"
BACKEND = "postgresql (asyncpg)"
DB_NAME = "bench_pgqueuer"
DSN_ENV = "BENCH_PGQUEUER_DSN"
ENTRYPOINT = "noop"
BATCH_SIZE = 50
BULK_CHUNK = 1000
SINGLE_JOBS = 2000

SETTINGS = (
    f"pgqueuer, durability=durable + `pgq autovac`; workers: pgqueuer.run(factory, "
    f"batch_size={BATCH_SIZE}) under uvloop (= `pgq run --batch-size {BATCH_SIZE}`), "
    "one dedicated asyncpg connection per process, async no-op entrypoint, unlimited "
    "in-process concurrency; producer: asyncpg "
    f"Queries.enqueue (bulk: lists of {BULK_CHUNK})"
)


def dsn() -> str:
    return os.environ.get(DSN_ENV, common.pg_dsn(DB_NAME))


@contextlib.asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    """Worker factory for ``pgq run bench.peers.pgqueuer_peer:create_pgqueuer``."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, Job, PgQueuer

    conn = await asyncpg.connect(dsn=dsn())
    try:
        pgq = PgQueuer(AsyncpgDriver(conn))

        @pgq.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            if job.payload:
                common.report_start(job.payload.decode())

        yield pgq
    finally:
        await conn.close()


def worker_command() -> list[str]:
    return [sys.executable, "-m", "bench.peers.pgqueuer_peer", "worker"]


def worker_main() -> None:
    """One worker process: what ``pgq run ... --batch-size N`` does, minus the CLI."""
    import pgqueuer
    import uvloop

    uvloop.run(pgqueuer.run(create_pgqueuer, batch_size=int(os.environ.get("X_BATCH", BATCH_SIZE))))


class PgqueuerHarness(common.Harness):
    def __init__(self, runner: asyncio.Runner, sync_conn: psycopg.Connection[tuple[int]]) -> None:
        self.runner = runner
        self.sync = sync_conn
        self._conn: asyncpg.Connection | None = None
        self._queries: Queries | None = None

    @property
    def queries(self) -> Queries:
        if self._queries is None:
            import asyncpg
            from pgqueuer import AsyncpgDriver, Queries

            self._conn = self.runner.run(asyncpg.connect(dsn=dsn()))
            self._queries = Queries(AsyncpgDriver(self._conn))
        return self._queries

    def close(self) -> None:
        if self._conn is not None:
            self.runner.run(self._conn.close())
            self._conn = None
            self._queries = None

    def reset(self) -> None:
        self.sync.execute("TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics RESTART IDENTITY")

    def analyze(self) -> None:
        self.sync.execute("ANALYZE pgqueuer")

    def remaining(self) -> int:
        row = self.sync.execute("SELECT count(*) FROM pgqueuer").fetchone()
        assert row is not None
        return int(row[0])

    def enqueue_single(self, n: int) -> None:
        async def go(q: Queries) -> None:
            for _ in range(n):
                await q.enqueue(ENTRYPOINT, None, 0)

        self.runner.run(go(self.queries))

    def enqueue_bulk(self, n: int) -> None:
        async def go(q: Queries) -> None:
            for start in range(0, n, BULK_CHUNK):
                size = min(BULK_CHUNK, n - start)
                await q.enqueue([ENTRYPOINT] * size, [None] * size, [0] * size)

        self.runner.run(go(self.queries))

    def enqueue_tagged(self, tag: str) -> None:
        self.runner.run(self.queries.enqueue(ENTRYPOINT, tag.encode(), 0))

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [worker_command() for _ in range(processes)]


def setup_database() -> None:
    common.recreate_pg_database(DB_NAME)
    pgq = common.venv_script("pgq")
    for args in (["install"], ["autovac"]):
        subprocess.run(
            [pgq, "--pg-dsn", dsn(), *args],
            check=True,
            capture_output=True,
            env=common.worker_env(),
        )


def run(jobs: int) -> common.PeerResult:
    import psycopg

    result = common.new_result(PEER, BACKEND, SETTINGS)
    setup_database()
    try:
        with (
            common.UdpCollector() as collector,
            asyncio.Runner() as runner,
            psycopg.connect(dsn(), autocommit=True) as sync_conn,
        ):
            harness = PgqueuerHarness(runner, sync_conn)
            try:
                common.run_standard(
                    result,
                    harness,
                    jobs=jobs,
                    env=common.worker_env({DSN_ENV: dsn(), **collector.env()}),
                    collector=collector,
                    single_jobs=SINGLE_JOBS,
                )
            finally:
                harness.close()
    finally:
        common.drop_pg_database(DB_NAME)
    return result


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        raise SystemExit("usage: python -m bench.peers.pgqueuer_peer worker")
    worker_main()
