"""SIGTERM: stop claiming, let running jobs finish within the grace period, hand back the rest."""

from __future__ import annotations

import signal
import time
from itertools import pairwise

import pytest

from .conftest import Harness, Process

pytestmark = pytest.mark.slow


def test_sigterm_lets_the_running_job_finish_and_leaves_the_rest_queued(harness: Harness) -> None:
    running = harness.app.enqueue("slow", {"first": 1.5, "then": 1.5})
    later = [harness.app.enqueue("step", {"seq": n}) for n in range(3)]
    worker = harness.worker("worker", concurrency=1)
    [first] = harness.wait_runs("the first attempt", lambda runs: runs, 15)
    assert first.job_id == running

    signalled = time.time()
    worker.terminate()
    assert worker.wait(10) == 0, worker.tail()
    stopped = time.time()

    [run] = harness.log.runs()
    assert run.finished is not None and run.outcome == "ok"
    assert run.finished > signalled, "the job had ended before the signal: nothing was tested"
    assert stopped - run.finished < 3, "the worker lingered after its last job"
    for job_id in later:
        job = harness.job(job_id)
        assert (job.state, job.attempts, job.started_at) == ("queued", 0, None), job
    job = harness.job(running)
    assert (job.state, job.attempts, job.errors) == ("succeeded", 1, [])


def test_a_job_that_outlives_the_grace_period_is_handed_back(harness: Harness) -> None:
    job_id = harness.app.enqueue("slow_async", {"first": 5, "then": 0.05})
    impatient = harness.worker("impatient", concurrency=2, grace=0.5)
    harness.wait_runs("the first attempt", lambda runs: runs, 15)

    signalled = time.time()
    impatient.terminate()
    assert impatient.wait(10) == 0, impatient.tail()
    assert time.time() - signalled < 3, "the worker did not stop soon after the grace period"

    job = harness.job(job_id)
    assert (job.state, job.attempts, job.errors) == ("queued", 0, [])
    [cut] = harness.log.runs()
    assert (cut.pid, cut.attempt, cut.outcome) == (impatient.pid, 1, "cancelled")
    assert cut.finished is not None and cut.finished - signalled >= 0.4

    patient = harness.worker("patient", burst=True, ready=False)
    assert patient.wait(20) == 0, patient.tail()
    job = harness.job(job_id)
    assert (job.state, job.attempts, job.errors) == ("succeeded", 1, [])
    runs = harness.log.runs()
    assert [(r.pid, r.attempt, r.outcome) for r in runs] == [
        (impatient.pid, 1, "cancelled"),
        (patient.pid, 1, "ok"),
    ]


def test_a_sync_job_past_the_grace_period_never_runs_twice_at_once(harness: Harness) -> None:
    job_id = harness.app.enqueue("slow", {"key": "customer:3", "first": 4, "then": 0.05})
    impatient = harness.worker("impatient", concurrency=2, grace=0.5)
    harness.wait_runs("the first attempt", lambda runs: runs, 15)
    impatient.terminate()
    time.sleep(1.0)  # past the grace period
    other = harness.worker("other", burst=True, ready=False)
    assert other.wait(20) == 0, other.tail()
    assert impatient.wait(20) == 0, impatient.tail()

    assert harness.job(job_id).state == "succeeded"
    runs = sorted(harness.log.runs(), key=lambda r: r.started)
    for before, after in pairwise(runs):
        assert before.finished is not None and after.started >= before.finished, (before, after)


def interrupt(process: Process) -> None:
    process.popen.send_signal(signal.SIGINT)


def test_a_second_ctrl_c_never_hands_back_a_sync_job_whose_thread_runs(harness: Harness) -> None:
    job_id = harness.app.enqueue("slow", {"key": "customer:4", "first": 3, "then": 0.05})
    worker = harness.worker("worker", concurrency=2, grace=30)
    harness.wait_runs("the first attempt", lambda runs: runs, 15)
    interrupt(worker)
    time.sleep(0.3)
    interrupt(worker)  # ends the grace: the thread is still running
    time.sleep(0.5)
    assert harness.job(job_id).state == "running", "handed back while its thread still ran"
    other = harness.worker("other", burst=True, ready=False)
    assert worker.wait(20) == 0, worker.tail()
    assert other.wait(20) == 0, other.tail()

    assert '"job.handed_back"' not in worker.stderr(), worker.tail()
    job = harness.job(job_id)
    assert (job.state, job.attempts) == ("succeeded", 1), job
    [run] = harness.log.runs()
    assert (run.pid, run.outcome) == (worker.pid, "ok")


def test_a_third_ctrl_c_exits_at_once_and_leaves_the_job_to_its_lease(harness: Harness) -> None:
    job_id = harness.app.enqueue("slow", {"key": "customer:5", "first": 30, "then": 0.05})
    worker = harness.worker("worker", concurrency=2, grace=30, lease=2)
    harness.wait_runs("the first attempt", lambda runs: runs, 15)
    for _ in range(3):
        interrupt(worker)
        time.sleep(0.3)
    assert worker.wait(10) == 130, worker.tail()
    assert "Traceback" not in worker.stderr(), worker.tail()
    assert '"worker.abandoned"' in worker.stderr(), worker.tail()
    job = harness.job(job_id)
    assert (job.state, job.worker_id is not None) == ("running", True), job

    time.sleep(2.5)  # the abandoned job's lease runs out; a burst worker then recovers it
    after = harness.worker("after", burst=True, ready=False, lease=2)
    assert after.wait(30) == 0, after.tail()
    job = harness.job(job_id)
    assert (job.state, job.attempts) == ("succeeded", 2), job
    assert job.errors[0]["type"] == "LeaseExpired"
