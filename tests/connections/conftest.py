"""Shared helpers for the connection tests: the HTTP sink fixture and an in-process worker."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from conveyor import Conveyor, Fixed
from conveyor.job import JobFilter
from conveyor.worker import WorkerStats
from tests.http_sink import sink_fixture  # noqa: F401  (the fixture is named "sink")

DELIVER = "conveyor.deliver"

Drain = Callable[..., WorkerStats]

# For a test of pure HTTP behaviour (what a request carries, auth, signing, how an answer is
# classified, the connection tester): it runs on SQLite only. The store calls it makes on the way
# (enqueue, claim, an outcome, the default breaker's bookkeeping) are the contract suite's, run on
# every backend; a test whose point is something the store keeps (idempotency, results, breaker
# state, attempts) keeps the both-backends `app`.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def run_burst(app: Conveyor, concurrency: int = 4, **options: Any) -> WorkerStats:
    """Run an in-process worker until nothing is runnable."""
    options.setdefault("middleware", [])
    stats: WorkerStats = app.run_worker(
        burst=True, install_signal_handlers=False, concurrency=concurrency, **options
    )
    return stats


def run_until(
    app: Conveyor, done: Callable[[], bool], timeout: float = 20.0, **options: Any
) -> WorkerStats:
    """Run a (non-burst) in-process worker in a thread until `done()` holds, then stop it.

    For outcomes a burst worker would not wait for (a retry delay past its burst_wait), or to
    stop a worker that would otherwise wait out a long postponement.
    """
    options.setdefault("middleware", [])
    options.setdefault("concurrency", 4)
    worker = app.worker(install_signal_handlers=False, poll_interval=0.1, grace=5, **options)
    result: list[WorkerStats] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(worker.run()))
        except BaseException as error:  # reported below
            failure.append(error)

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            if failure or not thread.is_alive():
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout} s")
            time.sleep(0.02)
    finally:
        worker.request_stop()
        thread.join(timeout=15)
    if failure:
        raise failure[0]
    assert not thread.is_alive(), "the worker did not stop"
    return result[0]


def run_until_throttled(app: Conveyor, concurrency: int = 4, **options: Any) -> WorkerStats:
    """Run until nothing is runnable right now, postponed jobs included: where a breaker or rate
    limit test looks at the jobs it postponed (a burst worker would wait for them to run)."""
    calm: list[bool] = []

    def nothing_runnable_now() -> bool:
        store = app.store
        running = store.list_jobs(JobFilter(state="running", limit=1))
        due = store.seconds_until_due(None)
        quiet = not running and (due is None or due > 0.05)
        quiet = quiet and not store.list_jobs(JobFilter(state="running", limit=1))
        calm.append(quiet)
        return calm[-3:] == [True, True, True]  # three reads in a row, 20 ms apart

    return run_until(app, nothing_runnable_now, concurrency=concurrency, **options)


@pytest.fixture
def drain() -> Drain:
    return run_until_throttled


@pytest.fixture
def retry_in(app: Conveyor) -> Callable[[float], None]:
    """Give the built-in delivery task a fixed retry delay (the default is exponential)."""

    def set_delay(seconds: float) -> None:
        app.tasks[DELIVER].retry = Fixed(seconds)

    return set_delay


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
