"""pgqueuer (PostgreSQL, asyncpg) peer benchmark.

Settings (from pgqueuer's "Performance Tuning" guide):

* Schema installed with ``pgq install`` (default ``durable`` durability: every table logged,
  the same crash guarantees as Conveyor) followed by ``pgq autovac`` (the recommended
  autovacuum settings for the high-churn queue table).
* Workers: ``python -m bench.peers.pgqueuer_peer worker``, which runs
  ``uvloop.run(pgqueuer.run(create_pgqueuer, batch_size=100))`` -- exactly what
  ``pgq run bench.peers.pgqueuer_peer:create_pgqueuer --batch-size 100`` does.  (The CLI of
  pgqueuer 1.6.0 crashes at start-up with typer 0.29 -- its ``--log-level`` default is not
  converted to the enum -- so the documented programmatic entry point ``pgqueuer.run`` is
  used.)  One ``PgQueuer`` per process on a dedicated ``asyncpg`` connection (the guide: a
  direct connection, not a pool, for the ``QueueManager``), async no-op entrypoint, no
  per-process concurrency cap, LISTEN/NOTIFY wake-ups.
* ``batch_size``: the guide says to raise it (default 10) for short-lived jobs.  On this
  machine process_1 was ~5.5k jobs/s at 10, ~9.5k at 25, ~11.5k at 50, ~16k at 100 and
  ~17k at 200 (process_2 ~6.7k/11.5k/16k/21.5k/23k): the gain flattens past 100, which we
  use.  The run also measures process_1 with the default batch size (see notes).
* Producer: ``Queries(AsyncpgDriver(asyncpg connection)).enqueue`` -- scalar arguments for
  one job per call (one INSERT statement, autocommit), list arguments (1,000 per call) for
  the batch API.
* remaining = ``count(*)`` of table ``pgqueuer`` (queued + picked jobs; a finished job is
  moved to ``pgqueuer_log`` by the worker's status-log buffer, flushed at ``batch_size``
  entries or every 0.1 s).
* The job count is ``--jobs`` as for Conveyor.  At ~15k jobs/s the 90 %->10 % window of a
  20,000-job queue lasts only ~1 s (~20 polls, so +-5 % quantisation); pass a larger
  ``--jobs`` for a tighter figure (50,000 jobs gave the same rates within the noise).
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
BATCH_SIZE_ENV = "BENCH_PGQUEUER_BATCH_SIZE"
MAX_TASKS_ENV = "BENCH_PGQUEUER_MAX_CONCURRENT_TASKS"
DEFAULT_BATCH_SIZE = 100
PGQUEUER_DEFAULT_BATCH_SIZE = 10
ENTRYPOINT = "noop"
BULK_CHUNK = 1000
SINGLE_JOBS = 2000

SETTINGS = (
    f"pgqueuer {common.package_version('pgqueuer')}, durability=durable + `pgq autovac`; "
    f"workers: pgqueuer.run(factory, batch_size={DEFAULT_BATCH_SIZE}) under uvloop "
    f"(= `pgq run --batch-size {DEFAULT_BATCH_SIZE}`), one dedicated asyncpg connection per "
    "process, async no-op entrypoint, unlimited in-process concurrency; producer: asyncpg "
    f"Queries.enqueue (bulk: lists of {BULK_CHUNK})"
)


def dsn() -> str:
    return os.environ.get(DSN_ENV, common.pg_dsn(DB_NAME))


def batch_size() -> int:
    return int(os.environ.get(BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE))


def max_concurrent_tasks() -> int | None:
    """pgqueuer's per-process cap on picked jobs (None: unlimited, the default)."""
    value = os.environ.get(MAX_TASKS_ENV)
    return int(value) if value else None


@contextlib.asynccontextmanager
async def create_pgqueuer() -> AsyncIterator[PgQueuer]:
    """Worker factory (also usable as ``pgq run bench.peers.pgqueuer_peer:create_pgqueuer``)."""
    import asyncpg
    from pgqueuer import AsyncpgDriver, Job, PgQueuer

    conn = await asyncpg.connect(dsn=dsn())
    try:
        pgq = PgQueuer(AsyncpgDriver(conn))

        @pgq.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            if job.payload:
                common.report_start(job.payload.decode())

        @pgq.entrypoint("append")
        async def append(job: Job) -> None:  # pgqueuer 1.6 runs async entrypoints only
            common.append_line()

        yield pgq
    finally:
        await conn.close()


def worker_main() -> None:
    """One worker process: what ``pgq run ... --batch-size N`` does, minus the CLI."""
    import pgqueuer
    import uvloop

    uvloop.run(
        pgqueuer.run(
            create_pgqueuer, batch_size=batch_size(), max_concurrent_tasks=max_concurrent_tasks()
        )
    )


WORKER_COMMAND = [sys.executable, "-m", "bench.peers.pgqueuer_peer", "worker"]


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
        return [list(WORKER_COMMAND) for _ in range(processes)]


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


def run(jobs: int, *, variants: bool = True) -> common.PeerResult:
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
            env = common.worker_env({DSN_ENV: dsn(), **collector.env()})
            try:
                common.run_standard(
                    result,
                    harness,
                    jobs=jobs,
                    env=env,
                    collector=collector,
                    single_jobs=SINGLE_JOBS,
                )
                if variants:
                    common.measure_variant(
                        result,
                        f"pgqueuer's default batch_size={PGQUEUER_DEFAULT_BATCH_SIZE}",
                        harness=harness,
                        jobs=jobs,
                        worker_commands=harness.worker_commands(1),
                        env={**env, BATCH_SIZE_ENV: str(PGQUEUER_DEFAULT_BATCH_SIZE)},
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
