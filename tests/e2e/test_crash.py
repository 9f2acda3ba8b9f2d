"""A worker killed with SIGKILL loses its jobs for at most about one lease."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from .conftest import Harness

pytestmark = pytest.mark.slow

LEASE = 2.0


def test_a_killed_workers_job_runs_again_after_its_lease(harness: Harness) -> None:
    doomed = harness.worker("doomed", concurrency=2, lease=LEASE)
    job_id = harness.app.enqueue("slow", {"first": 60, "then": 0.05})
    [first] = harness.wait_runs("the first attempt", lambda runs: runs, 15)
    assert (first.job_id, first.pid, first.attempt) == (job_id, doomed.pid, 1)

    time.sleep(1.5 * LEASE)  # longer than one lease: the renewals keep the job with its worker
    held = harness.job(job_id)
    assert (held.state, held.attempts, held.errors) == ("running", 1, [])
    assert len(harness.log.runs()) == 1

    killed_at = time.time()
    doomed.kill()
    rescuer = harness.worker("rescuer", concurrency=2, lease=LEASE)
    harness.wait_final([job_id], timeout=20)

    job = harness.job(job_id)
    runs = harness.log.runs()
    assert (job.state, job.attempts) == ("succeeded", 2)
    assert [(r.attempt, r.pid, r.outcome) for r in runs] == [
        (1, doomed.pid, None),
        (2, rescuer.pid, "ok"),
    ]
    [lost] = job.errors
    assert (lost["type"], lost["attempt"]) == ("LeaseExpired", 1)
    assert f":{doomed.pid}:" in lost["worker_id"]
    waited = runs[1].started - killed_at
    assert 0 < waited < 2 * LEASE + 5, f"the job ran again {waited:.1f} s after the kill"

    rescuer.terminate()
    assert rescuer.wait(10) == 0, rescuer.tail()


def test_the_next_job_of_a_key_waits_for_the_recovered_job(harness: Harness) -> None:
    doomed = harness.worker("doomed", concurrency=4, lease=LEASE)
    key = "customer:7"
    head = harness.app.enqueue("slow", {"key": key, "seq": 0, "first": 60, "then": 0.2})
    behind = [harness.app.enqueue("step", {"key": key, "seq": n}) for n in (1, 2)]
    harness.wait_runs("the first attempt", lambda runs: runs, 15)
    time.sleep(0.3)  # give the worker the chance to (wrongly) start the jobs behind it
    assert harness.app.store.states(behind) == {job_id: "waiting" for job_id in behind}

    doomed.kill()
    rescuer = harness.worker("rescuer", concurrency=4, lease=LEASE)
    states = harness.wait_final([head, *behind], timeout=20)
    assert set(states.values()) == {"succeeded"}, states

    runs = harness.log.runs()
    assert [(r.job_id, r.attempt, r.pid) for r in runs] == [
        (head, 1, doomed.pid),
        (head, 2, rescuer.pid),
        (behind[0], 1, rescuer.pid),
        (behind[1], 1, rescuer.pid),
    ]
    for before, after in pairwise(runs[1:]):
        assert before.finished is not None and after.started >= before.finished, (before, after)
    assert [e["type"] for e in harness.job(head).errors] == ["LeaseExpired"]

    rescuer.terminate()
    assert rescuer.wait(10) == 0, rescuer.tail()
