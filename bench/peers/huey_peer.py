"""huey peer benchmark with ``SqliteHuey`` (a SQLite file in a temporary directory).

Settings:

* ``SqliteHuey(filename=<tmp>/huey.db)`` with huey's defaults: WAL journal, SQLite's
  default ``synchronous=FULL`` (every commit fsynced, durable like the PostgreSQL peers),
  8 MB cache, results store on (a no-op returns None, so nothing is stored).
* Workers: ``huey_consumer bench.peers.huey_peer.huey --workers=1 --worker-type=thread
  --delay=0.01 --max-delay=0.1 --quiet`` per process.  All threads of a consumer share one
  SQLite connection behind a lock, so more threads do not help no-op jobs: 1 thread
  (huey's default) beat 2/4/8 here (~3.2-4.6k vs ~2.9-3.2k jobs/s for process_1).
  Polling: huey polls an empty queue starting at ``--delay`` (default 0.1 s), backing off
  by x1.15 up to ``--max-delay`` (default 10 s).  With the defaults a worker that was idle
  for a while sleeps up to 10 s between polls, which makes enqueue->start latency
  meaningless, so we poll every 10 ms backing off to at most 100 ms (a latency-oriented
  configuration; it does not change throughput on a full queue).  Per-task INFO logging is
  off (``--quiet``); the run also measures process_1 with it on, huey's default (notes).
* process_2 runs two ``huey_consumer`` processes on the same SQLite file (huey supports
  several consumers per storage; every dequeue takes SQLite's write lock).
* Producer: calling the task (one INSERT + commit per job).  huey has no batch enqueue
  (``Task.map()`` loops over the single enqueue), so enqueue_bulk is null and the
  process_N fill uses single enqueues too.
* remaining = ``huey.pending_count()`` (rows in the ``task`` table).  A dequeued job is no
  longer counted while it runs; with W threads at most W jobs per process are in that
  state, negligible against the measurement window (80 % of the jobs).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.peers import common

if TYPE_CHECKING:
    from huey import SqliteHuey
    from huey.api import TaskWrapper

PEER = "huey"
BACKEND = "sqlite (SqliteHuey)"
DB_ENV = "BENCH_HUEY_DB"
WORKERS_ENV = "BENCH_HUEY_WORKERS"
DEFAULT_WORKERS = 1
INITIAL_DELAY = 0.01
MAX_DELAY = 0.1
SINGLE_JOBS = 2000

SETTINGS = (
    f"huey {common.package_version('huey')}; SqliteHuey defaults (WAL, synchronous=FULL); "
    f"workers: `huey_consumer bench.peers.huey_peer.huey -w {DEFAULT_WORKERS} -k thread "
    f"-d {INITIAL_DELAY} -m {MAX_DELAY} -q` per process; producer: task call (one commit "
    "per job, huey has no batch enqueue)"
)


def noop(tag: str | None = None) -> None:
    if tag:
        common.report_start(tag)


def append() -> None:
    common.append_line()


def make_huey(filename: str) -> tuple[SqliteHuey, TaskWrapper]:
    """A SqliteHuey on ``filename`` with the no-op task registered as ``noop``."""
    instance, tasks = make_huey_tasks(filename)
    return instance, tasks["noop"]


def make_huey_tasks(filename: str) -> tuple[SqliteHuey, dict[str, TaskWrapper]]:
    """A SqliteHuey on ``filename`` with the no-op task and the task-kinds benchmark's
    ``append`` task (a plain def, the only kind huey runs)."""
    from huey import SqliteHuey

    instance = SqliteHuey(name="bench", filename=filename)
    tasks = {
        "noop": instance.task(name="noop")(noop),
        "append": instance.task(name="append")(append),
    }
    return instance, tasks


_consumer_huey: SqliteHuey | None = None


def __getattr__(name: str) -> Any:
    """``bench.peers.huey_peer.huey``: the instance ``huey_consumer`` loads.

    Created lazily from ``BENCH_HUEY_DB`` so importing this module has no side effect.
    """
    global _consumer_huey
    if name == "huey":
        if _consumer_huey is None:
            _consumer_huey, _ = make_huey(os.environ[DB_ENV])
        return _consumer_huey
    raise AttributeError(name)


def workers() -> int:
    return int(os.environ.get(WORKERS_ENV, DEFAULT_WORKERS))


class HueyHarness(common.Harness):
    # huey_consumer: SIGINT = graceful (finish running tasks), SIGTERM = immediate.
    stop_signal = signal.SIGINT
    bulk_unsupported = "huey has no batch enqueue API (Task.map() loops over single enqueues)"

    def __init__(self, filename: Path) -> None:
        self.huey, self.task = make_huey(str(filename))

    def reset(self) -> None:
        self.huey.storage.flush_all()

    def remaining(self) -> int:
        return int(self.huey.pending_count())

    def enqueue_single(self, n: int) -> None:
        task = self.task
        for _ in range(n):
            task()

    def fill(self, n: int) -> None:
        self.enqueue_single(n)

    def enqueue_tagged(self, tag: str) -> None:
        self.task(tag)

    def worker_commands(self, processes: int) -> list[list[str]]:
        cmd = [
            common.venv_script("huey_consumer"),
            "bench.peers.huey_peer.huey",
            f"--workers={workers()}",
            "--worker-type=thread",
            f"--delay={INITIAL_DELAY}",
            f"--max-delay={MAX_DELAY}",
            "--quiet",
        ]
        return [cmd for _ in range(processes)]


def run(jobs: int, *, variants: bool = True) -> common.PeerResult:
    result = common.new_result(PEER, BACKEND, SETTINGS)
    with (
        common.temp_dir("bench-huey-") as tmp,
        common.UdpCollector() as collector,
    ):
        db = tmp / "huey.db"
        harness = HueyHarness(db)
        env = common.worker_env({DB_ENV: str(db), **collector.env()})
        try:
            common.run_standard(
                result, harness, jobs=jobs, env=env, collector=collector, single_jobs=SINGLE_JOBS
            )
            if variants:
                # huey's out-of-the-box consumer logs two INFO lines per task.
                logging_cmd = [a for a in harness.worker_commands(1)[0] if a != "--quiet"]
                common.measure_variant(
                    result,
                    "huey's default INFO logging",
                    harness=harness,
                    jobs=jobs,
                    worker_commands=[logging_cmd],
                    env=env,
                )
        finally:
            harness.huey.storage.close()
    return result
