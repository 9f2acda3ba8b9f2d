"""A worker runs only the tasks it has, on both backends: others wait, attempts untouched."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conveyor import ConfigurationError, Conveyor, Worker
from conveyor.worker import WorkerStats


@pytest.fixture
def other_app(database_url: str) -> Iterator[Conveyor]:
    """Another application on the same database, with a task the worker's app lacks."""
    other = Conveyor(database_url)

    @other.task
    def elsewhere(payload: dict) -> None: ...

    yield other
    other.close()


def burst(app: Conveyor, **options: Any) -> WorkerStats:
    """A burst worker, bounded: one that never settles fails the test instead of hanging it."""
    worker = app.worker(burst=True, middleware=[], install_signal_handlers=False, **options)
    stats: WorkerStats = asyncio.run(asyncio.wait_for(worker.run(), 60))
    return stats


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s")
        time.sleep(0.02)


def test_jobs_of_a_task_the_worker_lacks_stay_queued(app: Conveyor, other_app: Conveyor) -> None:
    @app.task
    def here(payload: dict) -> str:
        return "done"

    foreign = other_app.enqueue("elsewhere", {})
    own = [here.enqueue({}) for _ in range(3)]
    stats = burst(app)  # exits: the foreign job is not runnable for this worker
    assert (stats.claimed, stats.succeeded, stats.dead) == (3, 3, 0)
    assert {app.get_job(i).state for i in own} == {"succeeded"}
    job = app.get_job(foreign)
    assert (job.state, job.attempts, job.errors, job.worker_id) == ("queued", 0, [], None)
    other_stats = burst(other_app)
    assert other_stats.succeeded == 1 and app.get_job(foreign).state == "succeeded"


def test_a_worker_without_tasks_refuses_to_start(database_url: str) -> None:
    bare = Conveyor(database_url)
    try:
        with pytest.raises(ConfigurationError, match="no tasks registered"):
            bare.worker()
        with pytest.raises(ConfigurationError, match="no tasks registered"):
            bare.run_worker(burst=True)
        with pytest.raises(ConfigurationError, match="no tasks registered"):
            Worker(bare)
    finally:
        bare.close()


def test_built_in_tasks_count_only_with_a_connection(database_url: str) -> None:
    """Deliveries and RPC calls need a declared connection; an app that declares one and no
    task of its own is a legitimate delivery worker."""
    sender = Conveyor(database_url)
    sender.connection("shop", base_url="http://127.0.0.1:9")
    assert sender.worker().tasks == ["conveyor.deliver", "conveyor.rpc"]
    plain = Conveyor(database_url)

    @plain.task
    def mine(payload: dict) -> None: ...

    assert plain.worker().tasks == ["mine"]
    sender.close()
    plain.close()


def test_a_running_worker_is_listed_until_it_stops(app: Conveyor, other_app: Conveyor) -> None:
    @app.task
    def here(payload: dict) -> None: ...

    foreign = other_app.enqueue("elsewhere", {})
    here.enqueue({})
    assert [(g.task, g.jobs) for g in app.jobs_without_worker()] == [("elsewhere", 1), ("here", 1)]
    worker = app.worker(
        queues=["default"], middleware=[], install_signal_handlers=False, poll_interval=0.05
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(worker.run())
        except BaseException as error:  # reported below
            failure.append(error)

    thread = threading.Thread(target=run, name="test-worker", daemon=True)
    thread.start()
    try:
        wait_for(lambda: bool(app.workers()) or bool(failure))
        [record] = app.workers()
        assert (record.worker_id, record.queues, record.tasks) == (
            worker.worker_id,
            ["default"],
            ["here"],
        )
        [group] = app.jobs_without_worker()  # "here" is served now, queued or not
        assert (group.task, group.queue, group.jobs) == ("elsewhere", "default", 1)
        assert group.reason == "no running worker has task 'elsewhere'"
        assert app.no_worker_reason(app.get_job(foreign)) == group.reason
    finally:
        worker.request_stop()
        thread.join(30)
    assert not failure and not thread.is_alive()
    assert app.workers() == []  # a clean stop removes its row
    job = app.get_job(foreign)
    assert (job.state, job.attempts) == ("queued", 0)
