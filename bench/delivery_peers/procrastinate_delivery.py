"""procrastinate (PostgreSQL, psycopg 3) delivering to the sink.

Settings:

* Database ``bench_procrastinate_delivery``, schema applied with ``procrastinate schema --apply``.
* Workers: ``procrastinate --app=bench.delivery_peers.procrastinate_delivery.app
  --log-level=warning worker --concurrency=C`` (one asyncio worker per process, LISTEN/NOTIFY
  on, finished jobs kept: the defaults), ``PsycopgConnector`` pool of ``C + 2`` connections.
* The task is ``async``: it POSTs with one ``aiohttp.ClientSession`` per worker process (per
  event loop; keep-alive, pool of 100 connections), created on the first job, and reads the
  answer; a non-2xx answer raises.
* Why C = 20: procrastinate fetches one job per query, so C only overlaps one job's fetch with
  the others' requests. Measured here with 2,000 deliveries (single runs, 1 / 2 processes):
  C = 1 (procrastinate's default) 233 / 388; C = 4 412 / 594 and 361 / 368; C = 10 476 / 643,
  430 / 550 and 307 / 380; C = 20 421 / 646 and 443 / 670; C = 50 325 / 364 (the fetch query
  contends with itself). 10 and 20 are within the noise; 20 did a little better.
* Fill: ``deliver.batch_defer_async`` (procrastinate's batch API), 1,000 jobs per call.
* remaining = jobs whose status is ``todo`` or ``doing``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import TYPE_CHECKING, Any

import procrastinate

from bench.delivery_peers.base import (
    CONNECT_TIMEOUT,
    HEADERS,
    READ_TIMEOUT,
    DeliveryHarness,
    encode,
    event,
    sink_events_url,
)
from bench.peers import common

if TYPE_CHECKING:
    import aiohttp
    import psycopg

DB_NAME = "bench_procrastinate_delivery"
DSN_ENV = "BENCH_PROCRASTINATE_DELIVERY_DSN"
CONCURRENCY_ENV = "BENCH_PROCRASTINATE_DELIVERY_CONCURRENCY"
CONCURRENCY = 20  # jobs in flight per worker process (see the module docstring)
BULK_CHUNK = 1000
APP_PATH = "bench.delivery_peers.procrastinate_delivery.app"


def dsn() -> str:
    return os.environ.get(DSN_ENV, common.pg_dsn(DB_NAME))


def concurrency() -> int:
    return int(os.environ.get(CONCURRENCY_ENV, CONCURRENCY))


app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(
        conninfo=dsn(), min_size=1, max_size=concurrency() + 2
    ),
)

_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    import aiohttp

    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
        )
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100), timeout=timeout)
        _sessions[loop] = session
    return session


URL = sink_events_url()


@app.task(name="deliver", pass_context=True)
async def deliver(context: procrastinate.JobContext, body: dict[str, Any]) -> None:
    job_id = context.job.id
    headers = {**HEADERS, "Idempotency-Key": f"procrastinate-job-{job_id}"}
    async with _session().post(URL, data=encode(body), headers=headers) as response:
        await response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"sink answered {response.status}")


async def _open() -> None:
    await app.open_async()


async def _close() -> None:
    await app.close_async()


def procrastinate_command(*args: str) -> list[str]:
    return [common.venv_script("procrastinate"), f"--app={APP_PATH}", "--log-level=warning", *args]


class ProcrastinateDelivery(DeliveryHarness):
    name = "procrastinate"
    backend = "postgresql (psycopg 3)"
    jobs_scale = 0.25

    def __init__(self) -> None:
        self._runner: asyncio.Runner | None = None
        self._sync: psycopg.Connection[Any] | None = None
        self._created = False

    @property
    def settings(self) -> str:
        return (
            f"procrastinate {common.package_version('procrastinate')}; workers: `procrastinate"
            f" --app={APP_PATH} --log-level=warning worker --concurrency={concurrency()}`"
            " (listen/notify on, finished jobs kept), PsycopgConnector pool max_size=C+2; async"
            " task, one aiohttp ClientSession per worker process (keep-alive, pool 100); fill:"
            f" batch_defer_async ({BULK_CHUNK:,} per call)"
        )

    def setup(self) -> None:
        import psycopg

        common.recreate_pg_database(DB_NAME)
        self._created = True
        subprocess.run(
            procrastinate_command("schema", "--apply"),
            check=True,
            capture_output=True,
            env=common.worker_env({DSN_ENV: dsn()}),
            cwd=common.REPO_ROOT,
        )
        self._sync = psycopg.connect(dsn(), autocommit=True)
        self._runner = asyncio.Runner()
        self._runner.run(_open())

    def teardown(self) -> None:
        if self._runner is not None:
            self._runner.run(_close())
            self._runner.close()
            self._runner = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        if self._created:
            common.drop_pg_database(DB_NAME)

    def reset(self) -> None:
        assert self._sync is not None
        self._sync.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers,"
            " procrastinate_workers RESTART IDENTITY CASCADE"
        )

    def analyze(self) -> None:
        assert self._sync is not None
        self._sync.execute("ANALYZE procrastinate_jobs")

    def fill(self, n: int) -> None:
        assert self._runner is not None

        async def go() -> None:
            for start in range(0, n, BULK_CHUNK):
                size = min(BULK_CHUNK, n - start)
                jobs: list[dict[str, Any]] = [{"body": event()} for _ in range(size)]
                await deliver.batch_defer_async(*jobs)

        self._runner.run(go())

    def remaining(self) -> int:
        assert self._sync is not None
        row = self._sync.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        ).fetchone()
        return int(row[0]) if row else 0

    def failures(self) -> int:
        assert self._sync is not None
        row = self._sync.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
            " AND status NOT IN ('todo', 'doing')"
        ).fetchone()
        return int(row[0]) if row else 0

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = procrastinate_command("worker", f"--concurrency={concurrency()}")
        return [command] * processes

    def worker_env(self) -> dict[str, str]:
        return {DSN_ENV: dsn(), CONCURRENCY_ENV: str(concurrency())}
