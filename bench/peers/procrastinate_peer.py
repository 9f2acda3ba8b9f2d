"""procrastinate (PostgreSQL, psycopg 3 connector) peer benchmark.

Settings:

* Schema applied with ``procrastinate schema --apply`` in a fresh database.
* Workers: ``procrastinate --app=bench.peers.procrastinate_peer.app --log-level=warning
  worker --concurrency=10``, i.e. one asyncio worker per process with up to C = 10 jobs
  in flight, LISTEN/NOTIFY wake-ups (the default), finished jobs kept (the default
  ``--delete-jobs=never``).  The connector is ``PsycopgConnector`` with a psycopg pool of
  ``C + 2`` connections so every in-flight job and the listener get a connection.  The
  worker fetches jobs one at a time (procrastinate has no batch fetch), so concurrency
  only overlaps a job's fetch with the previous jobs' completions.  On this machine
  process_1/process_2 were ~390-490/590 jobs/s at concurrency 1 (procrastinate's default),
  ~520/730 at 4, ~560/700 at 10 and ~575/750 at 20 (differences past 4 are within the
  noise); we use 10.  The run also measures process_1 at concurrency 1 (see notes).
  Per-job INFO logging is turned off (``--log-level=warning``).
* Producer: ``task.defer_async()`` for one job per call (one INSERT, autocommit) and
  ``task.batch_defer_async(*kwargs)`` (procrastinate's batch API, one multi-row INSERT)
  with 1,000 jobs per call.
* remaining = jobs whose status is ``todo`` or ``doing``.
* The job count is a quarter of ``--jobs`` (procrastinate drains a few hundred jobs/s).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import TYPE_CHECKING

import procrastinate

from bench.peers import common

if TYPE_CHECKING:
    import psycopg

PEER = "procrastinate"
BACKEND = "postgresql (psycopg 3)"
DB_NAME = "bench_procrastinate"
DSN_ENV = "BENCH_PROCRASTINATE_DSN"
CONCURRENCY_ENV = "BENCH_PROCRASTINATE_CONCURRENCY"
DEFAULT_CONCURRENCY = 10
BULK_CHUNK = 1000
SINGLE_JOBS = 2000
JOBS_SCALE = 0.25
APP_PATH = "bench.peers.procrastinate_peer.app"


def dsn() -> str:
    return os.environ.get(DSN_ENV, common.pg_dsn(DB_NAME))


def concurrency() -> int:
    return int(os.environ.get(CONCURRENCY_ENV, DEFAULT_CONCURRENCY))


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=dsn(), min_size=1, max_size=concurrency() + 2
    ),
)


@app.task(name="noop")
async def noop(tag: str | None = None) -> None:
    if tag:
        common.report_start(tag)


@app.task(name="append_def")
def append_def() -> None:
    common.append_line()


@app.task(name="append_async")
async def append_async() -> None:
    common.append_line()


SETTINGS = (
    f"procrastinate {common.package_version('procrastinate')}; workers: "
    f"`procrastinate --app={APP_PATH} --log-level=warning worker "
    f"--concurrency={DEFAULT_CONCURRENCY}` (listen/notify on, delete-jobs=never), "
    f"PsycopgConnector pool max_size=concurrency+2, async no-op task; producer: "
    f"defer_async / batch_defer_async (lists of {BULK_CHUNK})"
)


def procrastinate_command(*args: str) -> list[str]:
    return [common.venv_script("procrastinate"), f"--app={APP_PATH}", "--log-level=warning", *args]


def worker_command(worker_concurrency: int) -> list[str]:
    return procrastinate_command("worker", f"--concurrency={worker_concurrency}")


class ProcrastinateHarness(common.Harness):
    def __init__(self, runner: asyncio.Runner, sync_conn: psycopg.Connection[tuple[int]]) -> None:
        self.runner = runner
        self.sync = sync_conn
        self.runner.run(self._open())

    @staticmethod
    async def _open() -> None:
        await app.open_async()

    def close(self) -> None:
        self.runner.run(app.close_async())

    def reset(self) -> None:
        self.sync.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers,"
            " procrastinate_workers RESTART IDENTITY CASCADE"
        )

    def analyze(self) -> None:
        self.sync.execute("ANALYZE procrastinate_jobs")

    def remaining(self) -> int:
        row = self.sync.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).fetchone()
        assert row is not None
        return int(row[0])

    def enqueue_single(self, n: int) -> None:
        async def go() -> None:
            for _ in range(n):
                await noop.defer_async()

        self.runner.run(go())

    def enqueue_bulk(self, n: int) -> None:
        async def go() -> None:
            for start in range(0, n, BULK_CHUNK):
                size = min(BULK_CHUNK, n - start)
                await noop.batch_defer_async(*({} for _ in range(size)))

        self.runner.run(go())

    def enqueue_tagged(self, tag: str) -> None:
        self.runner.run(noop.defer_async(tag=tag))

    def worker_commands(self, processes: int) -> list[list[str]]:
        return [worker_command(concurrency()) for _ in range(processes)]


def setup_database() -> None:
    common.recreate_pg_database(DB_NAME)
    subprocess.run(
        procrastinate_command("schema", "--apply"),
        check=True,
        capture_output=True,
        env=common.worker_env({DSN_ENV: dsn()}),
        cwd=common.REPO_ROOT,
    )


def run(jobs: int, *, variants: bool = True) -> common.PeerResult:
    import psycopg

    result = common.new_result(PEER, BACKEND, SETTINGS)
    scaled = max(1000, int(jobs * JOBS_SCALE))
    common.add_note(result, f"{scaled} jobs for enqueue_bulk and process_N")
    setup_database()
    try:
        with (
            common.UdpCollector() as collector,
            asyncio.Runner() as runner,
            psycopg.connect(dsn(), autocommit=True) as sync_conn,
        ):
            harness = ProcrastinateHarness(runner, sync_conn)
            env = common.worker_env({DSN_ENV: dsn(), **collector.env()})
            try:
                common.run_standard(
                    result,
                    harness,
                    jobs=scaled,
                    env=env,
                    collector=collector,
                    single_jobs=SINGLE_JOBS,
                )
                if variants:
                    common.measure_variant(
                        result,
                        "procrastinate's default --concurrency=1",
                        harness=harness,
                        jobs=scaled,
                        worker_commands=[worker_command(1)],
                        env={**env, CONCURRENCY_ENV: "1"},
                    )
            finally:
                harness.close()
    finally:
        common.drop_pg_database(DB_NAME)
    return result
