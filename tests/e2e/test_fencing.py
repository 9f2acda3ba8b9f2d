"""A worker that lost its lease changes nothing: every write carries the claim's token."""

from __future__ import annotations

import time

import pytest

from conveyor.job import Outcome
from conveyor.store.base import error_record

from .conftest import Harness

pytestmark = pytest.mark.slow

KEY = "customer:1"


def stale_outcomes(job_id: int, token: int) -> list[Outcome]:
    error = error_record(RuntimeError("stale"), 1, time.time())
    return [
        Outcome(job_id, token, "succeeded", key=KEY, result='"stale"'),
        Outcome(job_id, token, "retry", key=KEY, error=error, delay=0),
        Outcome(job_id, token, "dead", key=KEY, error=error),
        Outcome(job_id, token, "handback", key=KEY),
    ]


def test_a_worker_that_lost_its_lease_changes_nothing(harness: Harness) -> None:
    app, store = harness.app, harness.app.store
    head = app.enqueue("step", {"key": KEY, "seq": 0})
    behind = app.enqueue("step", {"key": KEY, "seq": 1})

    [stale] = store.claim("worker-a", None, 10, 0.2)
    assert stale.id == head
    time.sleep(0.4)
    assert store.recover_expired() == 1
    recovered = app.get_job(head)
    assert recovered.state == "retrying"
    assert [e["type"] for e in recovered.errors] == ["LeaseExpired"]
    for outcome in stale_outcomes(head, stale.token):  # while nobody holds it
        store.complete([outcome])
        assert app.get_job(head) == recovered, outcome.kind
    assert store.renew([(head, stale.token)], 30) == {head}

    [fresh] = store.claim("worker-b", None, 10, 30)
    assert (fresh.id, fresh.attempt) == (head, 2) and fresh.token != stale.token
    held = app.get_job(head)
    assert (held.state, held.worker_id) == ("running", "worker-b")
    for outcome in stale_outcomes(head, stale.token):  # while another worker holds it
        store.complete([outcome])
        assert app.get_job(head) == held, outcome.kind
        assert store.states([behind]) == {behind: "waiting"}, outcome.kind
    assert store.renew([(head, stale.token)], 30) == {head}
    assert app.get_job(head) == held

    assert store.renew([(head, fresh.token)], 30) == set()
    store.complete([Outcome(head, fresh.token, "succeeded", key=KEY, result='"fresh"')])
    done = app.get_job(head)
    assert (done.state, done.attempts, done.result) == ("succeeded", 2, "fresh")
    assert store.states([behind]) == {behind: "queued"}
    store.complete(stale_outcomes(head, stale.token))  # all at once, after the fact
    assert app.get_job(head) == done
    assert store.states([behind]) == {behind: "queued"}
