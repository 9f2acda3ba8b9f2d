"""Batches, fan-out and progress through a real worker, on both backends: one callback per batch,
on_failure when a member dies, children written only with their parent's success and counted
in its batch, progress stored while a job runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conveyor import Conveyor, Fixed, current_job
from conveyor.errors import BatchNotFound, ConfigurationError, PayloadError, TaskNotFound


def drain(app: Conveyor, **options: Any) -> Any:
    options.setdefault("concurrency", 4)
    return app.run_worker(burst=True, middleware=[], install_signal_handlers=False, **options)


def callbacks(app: Conveyor, task: str) -> list[dict[str, Any]]:
    return [job.payload for job in app.list_jobs(task=task)]


def test_a_batch_runs_its_callback_once_its_members_are_done(app: Conveyor) -> None:
    seen: list[dict[str, Any]] = []

    @app.task
    def resize(payload: dict) -> None:
        pass

    @app.task(queue="reports")
    def report(payload: dict) -> None:
        seen.append(payload)

    batch = app.batch(
        [("resize", {"n": 1}), (resize, {"n": 2}), app.build_job("resize", {"n": 3}, priority=2)],
        on_complete=report,
        payload={"to": "ops@example.com"},
        name="thumbnails",
    )
    assert len(batch.job_ids) == 3
    assert batch.status().pending == 3 and batch.status().state == "running"
    drain(app)
    view = app.batches.get(batch.id)
    assert (view.state, view.done, view.total, view.progress) == ("succeeded", 3, 3, 1.0)
    assert seen == [
        {
            "batch_id": batch.id,
            "name": "thumbnails",
            "state": "succeeded",
            "payload": {"to": "ops@example.com"},
        }
    ]
    callback = app.get_job(view.callback_job_id or 0)
    assert (callback.task, callback.queue, callback.state) == ("report", "reports", "succeeded")


def test_a_dead_member_fails_the_batch_and_runs_on_failure_only(app: Conveyor) -> None:
    @app.task(max_attempts=2, retry=Fixed(0))
    def flaky(payload: dict) -> None:
        if payload["n"] == 2:
            raise ValueError("no")

    @app.task
    def finished(payload: dict) -> None:
        pass

    @app.task
    def alarm(payload: dict) -> None:
        pass

    batch = app.batch(
        [("flaky", {"n": n}) for n in range(4)], on_complete=finished, on_failure=alarm
    )
    drain(app)
    view = app.batches.get(batch.id)
    assert (view.state, view.done, view.failed, view.pending) == ("failed", 3, 1, 0)
    assert [p["state"] for p in callbacks(app, "alarm")] == ["failed"]
    assert callbacks(app, "finished") == []


def test_fan_out_children_join_the_batch_which_waits_for_them(app: Conveyor) -> None:
    order: list[str] = []

    @app.task
    def fetch(payload: dict) -> None:
        for page in range(payload["pages"]):
            current_job().enqueue("process", {"page": page})  # type: ignore[union-attr]
        order.append("fetch")

    @app.task
    def process(payload: dict) -> None:
        order.append(f"process {payload['page']}")

    @app.task
    def done(payload: dict) -> None:
        order.append("done")

    batch = app.batch([("fetch", {"pages": 3})], on_complete="done")
    drain(app)
    view = app.batches.get(batch.id)
    assert (view.state, view.total, view.done) == ("succeeded", 4, 4)
    assert order[0] == "fetch" and order[-1] == "done" and len(order) == 5
    children = app.list_jobs(task="process")
    assert {job.parent_id for job in children} == {batch.job_ids[0]}
    assert {job.batch_id for job in children} == {batch.id}


def test_children_of_a_failed_or_retried_attempt_are_not_written(app: Conveyor) -> None:
    attempts: list[int] = []

    @app.task(max_attempts=3, retry=Fixed(0))
    def parent(payload: dict) -> None:
        job = current_job()
        assert job is not None
        job.enqueue("child", {"attempt": job.attempt})
        attempts.append(job.attempt)
        if job.attempt < payload["succeed_on"]:
            raise ValueError("not yet")

    @app.task
    def child(payload: dict) -> None:
        pass

    retried = parent.enqueue({"succeed_on": 2})
    buried = parent.enqueue({"succeed_on": 99})
    drain(app)
    assert app.get_job(buried).state == "dead"
    kids = app.list_jobs(task="child")
    assert [(k.parent_id, k.payload) for k in kids] == [(retried, {"attempt": 2})]


def test_progress_is_stored_while_the_job_runs_and_at_its_end(app: Conveyor) -> None:
    reported = threading.Event()
    release = threading.Event()

    @app.task
    def long(payload: dict) -> None:
        job = current_job()
        assert job is not None
        job.progress(40, 100)
        reported.set()
        release.wait(10)
        job.progress(100, 100)

    job_id = long.enqueue({})
    worker = threading.Thread(target=drain, args=(app,))
    worker.start()
    try:
        assert reported.wait(10)
        deadline = time.monotonic() + 10
        while app.get_job(job_id).progress_done != 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = app.get_job(job_id)
        assert (running.state, running.progress) == (
            "running",
            {"done": 40, "total": 100, "ratio": 0.4},
        )
    finally:
        release.set()
        worker.join(20)
    assert app.get_job(job_id).progress == {"done": 100, "total": 100, "ratio": 1.0}


def test_bad_progress_and_fan_out_outside_a_worker_are_refused(app: Conveyor) -> None:
    @app.task
    def bad(payload: dict) -> None:
        current_job().progress(-1)  # type: ignore[union-attr]

    job_id = bad.enqueue({})
    drain(app)
    assert "progress done must be an integer >= 0" in (app.get_job(job_id).last_error or "")


def test_run_now_stores_the_children_of_a_success(app: Conveyor) -> None:
    @app.task
    def split(payload: dict) -> str:
        current_job().enqueue("piece", {"n": 1})  # type: ignore[union-attr]
        return "ok"

    @app.task
    def piece(payload: dict) -> None:
        pass

    assert app.run_now("split", {}, persist=True) == "ok"
    [parent] = app.list_jobs(task="split")
    [child] = app.list_jobs(task="piece")
    assert (child.parent_id, child.state) == (parent.id, "queued")


def test_bad_batches_are_refused_and_store_nothing(app: Conveyor) -> None:
    @app.task
    def t(payload: Any) -> None:
        pass

    with pytest.raises(ConfigurationError, match="at least one job"):
        app.batch([])
    with pytest.raises(TaskNotFound):
        app.batch([("t", 1)], on_complete="nobody")
    with pytest.raises(TaskNotFound):
        app.batch([("t", 1), ("nobody", 2)])
    with pytest.raises(PayloadError):
        app.batch([("t", 1)], payload={"x": object()})
    with pytest.raises(ConfigurationError, match="a tuple of 4"):
        app.batch([("t", 1, {}, 4)])
    assert app.list_jobs() == [] and app.batches.list() == []
    with pytest.raises(BatchNotFound):
        app.batches.get(12345)
    with pytest.raises(ConfigurationError, match="unknown batch state"):
        app.batches.list(state="bogus")
