"""The jobs slice, every backend: enqueue, and the worker's claim, outcomes, leases and recovery.

The operators' side of the slice is in test_jobs_operators.py.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from conveyor.job import NewJob, Outcome, OutcomeKind, PostponedJobs
from conveyor.politeness import ON_HOLD
from conveyor.store import Store
from conveyor.store.sqlite import sqlite_path

from .helpers import LEASE, claim, fail, new, succeed

# -- enqueue -------------------------------------------------------------------------------------


def test_enqueue_and_get(store: Store) -> None:
    before = datetime.now(UTC)
    [job_id] = store.enqueue([new(payload='{"customer": 42}', key="c:42", ikey="i1")])
    job = store.get(job_id)
    assert job.payload == {"customer": 42}
    assert (job.state, job.key, job.idempotency_key, job.attempts) == ("queued", "c:42", "i1", 0)
    assert job.created_at is not None and job.run_at == job.created_at  # no delay: due at once
    assert before - timedelta(seconds=5) < job.created_at < datetime.now(UTC) + timedelta(seconds=5)


def test_bulk_enqueue_returns_ids_in_order(store: Store) -> None:
    ids = store.enqueue([new(payload=f'{{"n": {n}}}') for n in range(500)])
    assert len(set(ids)) == 500
    assert [store.get(i).payload["n"] for i in ids[::50]] == list(range(0, 500, 50))


def test_run_at_in_the_past_is_due(store: Store) -> None:
    job = NewJob("t", "default", "{}", 3, run_at=datetime.now(UTC) - timedelta(seconds=5))
    [job_id] = store.enqueue([job])
    assert [j.id for j in claim(store)] == [job_id]


@pytest.mark.parametrize(
    "when",
    [{"delay": 30.0}, {"run_at": datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)}],
    ids=["delay", "run_at"],
)
def test_a_job_enqueued_alone_is_stored_as_in_a_batch(store: Store, when: dict[str, Any]) -> None:
    """One job without a key or idempotency key takes a shorter path (the single enqueue's hot
    path): every field must come out as the general path stores it."""
    job = NewJob("t", "q1", '{"a": [1, "x"]}', 4, leads_key=True, priority=7, **when)
    [alone] = store.enqueue([job])
    [batched, _] = store.enqueue([job, new()])
    a, b = store.get(alone), store.get(batched)
    fields = ("task", "queue", "payload", "key", "leads_key", "idempotency_key", "priority")
    fields += ("state", "attempts", "max_attempts", "errors", "postponed_reason")
    assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert (a.leads_key, a.priority, a.queue, a.state) == (True, 7, "q1", "queued")
    assert a.run_at is not None and a.created_at is not None
    assert b.run_at is not None and b.created_at is not None
    if "delay" in when:
        assert a.run_at - a.created_at == b.run_at - b.created_at == timedelta(seconds=30)
    else:
        assert a.run_at == b.run_at == when["run_at"]


def _user_connection(database_url: str) -> Any:
    if database_url.startswith("sqlite"):
        return sqlite3.connect(sqlite_path(database_url))
    return psycopg.connect(database_url)


@pytest.mark.parametrize("commit", [True, False])
def test_enqueue_inside_the_callers_transaction(
    store: Store, database_url: str, commit: bool
) -> None:
    conn = _user_connection(database_url)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
        conn.commit()
        conn.execute("INSERT INTO orders (id) VALUES (1)")
        [job_id] = store.enqueue([new(key="order:1")], connection=conn)
        if commit:
            conn.commit()
        else:
            conn.rollback()
        found = store.states([job_id])
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    finally:
        conn.execute("DROP TABLE IF EXISTS orders")
        conn.commit()
        conn.close()
    assert (job_id in found) is commit
    assert orders == (1 if commit else 0)


@pytest.mark.parametrize("state", ["succeeded", "dead"])
def test_record_finished_stores_a_job_that_ran_in_the_caller(store: Store, state: str) -> None:
    """`run_now(..., persist=True)`: one attempt, already over, kept as it ended."""
    started = time.time() - 2.0
    error = {"attempt": 1, "at": started, "type": "ValueError", "message": "boom"}
    result = '{"ok": true}' if state == "succeeded" else None
    job_id = store.record_finished(
        new(task="now", key="k", queue="q"),
        state,
        started,
        result=result,
        error=None if state == "succeeded" else error,
    )
    job = store.get(job_id)
    assert (job.task, job.queue, job.key, job.state, job.attempts) == ("now", "q", "k", state, 1)
    assert job.payload == {"n": 1}
    assert job.started_at is not None and job.finished_at is not None
    assert job.run_at == job.created_at == job.started_at
    assert abs(job.started_at.timestamp() - started) < 0.01
    assert 1.0 < (job.finished_at - job.started_at).total_seconds() < 60
    if state == "succeeded":
        assert (job.result, job.errors, job.last_error) == ({"ok": True}, [], None)
    else:
        assert (job.result, job.last_error) == (None, "boom")
        assert [e["type"] for e in job.errors] == ["ValueError"]
    assert claim(store) == []  # finished: never claimed
    [later] = store.enqueue([new(key="k")])
    # Like any dead head, a dead one blocks its key until an operator acts on it.
    assert store.get(later).state == ("queued" if state == "succeeded" else "waiting")


# -- claim ---------------------------------------------------------------------------------------


def test_claim_orders_by_priority_then_age(store: Store) -> None:
    low, high, low2 = store.enqueue([new(), new(priority=5), new()])
    claimed = claim(store)
    assert [j.id for j in claimed] == [high, low, low2]
    assert all(j.attempt == 1 for j in claimed)
    assert {store.get(j.id).state for j in claimed} == {"running"}


def test_claim_respects_limit_queues_and_run_at(store: Store) -> None:
    a, b, _later = store.enqueue([new(queue="a"), new(queue="b"), new(queue="a", delay=60)])
    assert [j.id for j in claim(store, queues=["b"])] == [b]
    assert [j.id for j in claim(store, limit=5)] == [a]
    assert claim(store) == []
    due = store.seconds_until_due(None)
    assert due is not None and 50 < due <= 60


def test_claim_takes_only_jobs_of_the_given_tasks(store: Store) -> None:
    mine, theirs, mine_too = store.enqueue([new(task="mine"), new(task="theirs"), new("mine")])
    claimed = store.claim("w1", None, 10, LEASE, tasks=["mine", "also_mine"])
    assert [j.id for j in claimed] == [mine, mine_too]
    job = store.get(theirs)
    assert (job.state, job.attempts, job.worker_id) == ("queued", 0, None)
    assert store.claim("w1", None, 10, LEASE, tasks=[]) == []  # no tasks: nothing to claim
    assert [j.id for j in store.claim("w2", None, 10, LEASE)] == [theirs]  # None: every task


def test_the_task_filter_combines_with_queues_and_priority(store: Store) -> None:
    store.enqueue([new(task="other", priority=9), new(task="mine", queue="q2")])
    [low] = store.enqueue([new(task="mine", queue="q1")])
    [high] = store.enqueue([new(task="mine", queue="q1", priority=5)])
    claimed = store.claim("w1", ["q1"], 10, LEASE, tasks=["mine"])
    assert [j.id for j in claimed] == [high, low]


def test_seconds_until_due_ignores_jobs_of_other_tasks(store: Store) -> None:
    """A worker sleeps by this: another task's job due now must not keep it awake."""
    store.enqueue([new(task="theirs"), new(task="mine", delay=60)])
    due = store.seconds_until_due(None, ["mine"])
    assert due is not None and 50 < due <= 60
    assert store.seconds_until_due(None, ["nobody"]) is None
    assert store.seconds_until_due(["elsewhere"], ["mine"]) is None
    now = store.seconds_until_due(None)
    assert now is not None and now <= 0


# -- outcomes ------------------------------------------------------------------------------------


def test_succeeded_outcome_is_written(store: Store) -> None:
    store.enqueue([new()])
    [job] = claim(store)
    succeed(store, job, result='{"ok": true}')
    stored = store.get(job.id)
    assert stored.state == "succeeded" and stored.result == {"ok": True}
    assert stored.finished_at is not None


def test_a_stale_token_changes_nothing(store: Store) -> None:
    store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token + 1, "succeeded")])
    assert store.get(job.id).state == "running"
    assert store.renew([(job.id, job.token + 1)], LEASE) == {job.id}
    assert store.renew([(job.id, job.token)], LEASE) == set()


def test_retry_outcome_keeps_every_error(store: Store) -> None:
    store.enqueue([new()])
    [job] = claim(store)
    error = {"attempt": 1, "message": "boom", "type": "ValueError"}
    store.complete([Outcome(job.id, job.token, "retry", error=error, delay=0)])
    stored = store.get(job.id)
    assert (stored.state, stored.last_error, stored.attempts) == ("retrying", "boom", 1)
    [again] = claim(store)
    assert again.attempt == 2
    store.complete([Outcome(again.id, again.token, "dead", error={**error, "attempt": 2})])
    stored = store.get(job.id)
    assert stored.state == "dead" and [e["attempt"] for e in stored.errors] == [1, 2]


def test_retry_delay_is_applied(store: Store) -> None:
    store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "retry", error={"message": "x"}, delay=120)])
    assert claim(store) == []
    due = store.seconds_until_due(None)
    assert due is not None and 110 < due <= 120


def test_hand_back_returns_the_attempt(store: Store) -> None:
    store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "handback")])
    stored = store.get(job.id)
    assert (stored.state, stored.attempts) == ("queued", 0)


def test_postpone_returns_the_job_without_using_the_attempt(store: Store) -> None:
    [job_id] = store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "postpone", delay=60)])
    stored = store.get(job_id)
    assert (stored.state, stored.attempts) == ("queued", 0)
    assert claim(store) == []
    due = store.seconds_until_due(None)
    assert due is not None and 50 < due <= 60


def test_a_postponement_keeps_its_reason_until_the_next_claim(store: Store) -> None:
    [job_id] = store.enqueue([new()])
    assert store.postponed_jobs(None) == PostponedJobs()
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "postpone", delay=0, reason="rate limit of 'x'")])
    assert store.get(job_id).postponed_reason == "rate limit of 'x'"
    assert store.postponed_jobs(None).jobs == store.postponed_jobs(["default"]).jobs == 1
    assert store.postponed_jobs(["elsewhere"]) == PostponedJobs()
    assert store.postponed_jobs(None, ["other-task"]) == PostponedJobs()
    [again] = claim(store)
    assert store.get(job_id).postponed_reason is None
    store.complete([Outcome(again.id, again.token, "handback")])
    assert store.get(job_id).postponed_reason is None
    assert store.postponed_jobs(None) == PostponedJobs()


def test_postponed_jobs_say_when_the_throttled_ones_are_due(store: Store) -> None:
    """What a burst worker decides by: the first throttled job's due time (not one on hold,
    which waits for a resume), and for its report the count and span of them all."""
    soon, later, held, plain = store.enqueue([new(), new(), new(queue="paused"), new()])
    claimed = {job.id: job for job in claim(store, limit=4)}

    def postpone(job_id: int, delay: float, reason: str) -> Outcome:
        return Outcome(job_id, claimed[job_id].token, "postpone", delay=delay, reason=reason)

    store.complete(
        [
            postpone(soon, 30, "rate limit of 'x'"),
            postpone(later, 90, "connection 'x' slowed until 12:00:00 UTC: HTTP 429"),
            postpone(held, 300, f"{ON_HOLD}connection 'y' is paused"),
            Outcome(plain, claimed[plain].token, "retry", error={"message": "x"}, delay=5),
        ]
    )
    left = store.postponed_jobs(None)
    assert (left.jobs, left.on_hold) == (3, 1)
    assert left.throttled_in is not None and 20 < left.throttled_in <= 30
    assert left.first_due is not None and left.last_due is not None
    assert left.first_due == pytest.approx(store.get(soon).run_at.timestamp(), abs=0.01)
    assert left.last_due == pytest.approx(store.get(held).run_at.timestamp(), abs=0.01)
    only_held = store.postponed_jobs(["paused"])
    assert (only_held.jobs, only_held.on_hold, only_held.throttled_in) == (1, 1, None)


def test_one_batch_of_every_kind_of_outcome(store: Store) -> None:
    """Outcomes are written in batches (one statement per kind): each row gets its own, each
    released key promotes its own next job, and stale tokens in the batch change nothing."""
    heads = store.enqueue([new(key=k) for k in ("ok", "retry", "dead", "back", "cancel", "stale")])
    behind = store.enqueue([new(key=k) for k in ("ok", "retry", "dead", "back", "cancel", "stale")])
    [plain] = store.enqueue([new()])
    jobs = {j.id: j for j in claim(store)}
    assert sorted(jobs) == sorted([*heads, plain])
    store.cancel([heads[4]])
    error = {"attempt": 1, "message": "boom"}

    def outcome(i: int, kind: OutcomeKind, **fields: Any) -> Outcome:
        job = jobs[heads[i]]
        return Outcome(job.id, job.token, kind, key=job.key, **fields)

    stale = jobs[heads[5]]
    store.complete(
        [
            outcome(0, "succeeded", result='"one"'),
            outcome(1, "retry", error=error, delay=60),
            outcome(2, "dead", error=error),
            outcome(3, "handback"),
            outcome(4, "dead", error=error),  # its cancel was requested: it ends cancelled
            Outcome(stale.id, stale.token + 1, "succeeded", key="stale"),
            Outcome(plain, jobs[plain].token, "succeeded", result='"plain"'),
        ]
    )
    assert store.states([*heads, *behind, plain]) == {
        heads[0]: "succeeded",
        heads[1]: "retrying",
        heads[2]: "dead",
        heads[3]: "queued",
        heads[4]: "cancelled",
        heads[5]: "running",
        behind[0]: "queued",  # released: promoted
        behind[1]: "waiting",
        behind[2]: "waiting",
        behind[3]: "waiting",
        behind[4]: "queued",  # released: promoted
        behind[5]: "waiting",
        plain: "succeeded",
    }
    assert (store.get(heads[0]).result, store.get(plain).result) == ("one", "plain")
    assert [e["message"] for e in store.get(heads[4]).errors] == ["boom"]
    assert store.get(heads[1]).errors == [error] and store.get(heads[3]).attempts == 0


# -- leases --------------------------------------------------------------------------------------


def test_renew_extends_the_leases_still_held_and_names_the_lost(store: Store) -> None:
    store.enqueue([new(), new(), new()])
    held, other, finished = claim(store, lease=5)
    succeed(store, finished)
    lost = store.renew(
        [(held.id, held.token), (other.id, other.token + 1), (finished.id, finished.token)], 600
    )
    assert lost == {other.id, finished.id}
    assert store.renew([], 600) == set()
    lease = store.get(held.id).lease_expires_at
    assert lease is not None and lease > datetime.now(UTC) + timedelta(seconds=500)
    lease = store.get(other.id).lease_expires_at
    assert lease is not None and lease < datetime.now(UTC) + timedelta(seconds=10)


def test_expired_leases_are_recovered(store: Store) -> None:
    first, last = store.enqueue([new(max_attempts=2), new(max_attempts=1)])
    claimed = claim(store, lease=0.2)
    assert len(claimed) == 2
    time.sleep(0.5)
    assert store.recover_expired() == 2
    assert store.get(first).state == "retrying"
    assert store.get(first).errors[-1]["type"] == "LeaseExpired"
    assert store.get(last).state == "dead"  # its only attempt was used
    assert store.recover_expired() == 0


# -- per-key order -------------------------------------------------------------------------------


def test_keyed_jobs_wait_and_are_promoted_in_order(store: Store) -> None:
    one, two, three, other = store.enqueue([new(key="k"), new(key="k"), new(key="k"), new()])
    assert store.states([one, two, three]) == {one: "queued", two: "waiting", three: "waiting"}
    claimed = claim(store)
    assert {j.id for j in claimed} == {one, other}
    succeed(store, next(j for j in claimed if j.id == one))
    assert [j.id for j in claim(store)] == [two]
    assert store.get(three).state == "waiting"


def test_a_retrying_head_keeps_its_key(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    fail(store, job, "retry")
    assert [j.id for j in claim(store)] == [one]
    assert store.get(two).state == "waiting"


def test_a_leader_overtakes_a_queued_head(store: Store) -> None:
    update, create = store.enqueue([new(key="c"), new(key="c", leads=True)])
    assert store.states([update, create]) == {update: "waiting", create: "queued"}
    [job] = claim(store)
    assert job.id == create
    succeed(store, job)
    assert [j.id for j in claim(store)] == [update]


def test_a_leader_enqueued_later_goes_first_among_waiting(store: Store) -> None:
    first, second = store.enqueue([new(key="c"), new(key="c")])
    [running] = claim(store)
    [leader] = store.enqueue([new(key="c", leads=True)])
    assert store.get(leader).state == "waiting"
    succeed(store, running)
    assert [j.id for j in claim(store)] == [leader]
    assert store.get(second).state == "waiting"
    assert first == running.id


# -- cancelling a running job --------------------------------------------------------------------


def test_cancelling_a_running_keyed_job_keeps_its_key_until_the_attempt_ends(
    store: Store,
) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    assert store.cancel([one]) == [one]
    assert store.cancel([one]) == [one]  # asking again changes nothing
    running = store.get(one)
    assert running.state == "running" and running.cancel_requested_at is not None
    assert running.to_dict()["cancel_requested_at"] == running.cancel_requested_at.isoformat()
    assert store.get(two).state == "waiting" and claim(store) == []
    assert store.cancel_requested([one, two, 424242]) == {one}
    assert store.cancel_requested([]) == set()
    store.complete([Outcome(job.id, job.token, "cancelled", key="k")])
    cancelled = store.get(one)
    assert (cancelled.state, cancelled.attempts) == ("cancelled", 1)
    assert cancelled.finished_at is not None and cancelled.lease_expires_at is None
    assert store.cancel_requested([one]) == set()
    assert [j.id for j in claim(store)] == [two]


@pytest.mark.parametrize("kind", ["succeeded", "retry", "dead", "handback", "postpone"])
def test_any_end_of_a_cancel_requested_attempt_cancels_the_job(
    store: Store, kind: OutcomeKind
) -> None:
    # The worker may write its usual outcome before it learns of the request: the store decides.
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.cancel([one])
    assert store.get(two).state == "waiting"
    error = {"attempt": 1, "message": "boom"} if kind in ("retry", "dead") else None
    result = '"done"' if kind == "succeeded" else None
    store.complete([Outcome(job.id, job.token, kind, key="k", error=error, result=result)])
    stored = store.get(one)
    assert (stored.state, stored.attempts) == ("cancelled", 1)
    assert stored.result == ("done" if result else None)  # a result is kept all the same
    assert [e["message"] for e in stored.errors] == (["boom"] if error else [])
    assert [j.id for j in claim(store)] == [two]


def test_a_cancelled_outcome_is_fenced_by_the_lease_token(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.cancel([one])
    store.complete([Outcome(job.id, job.token + 1, "cancelled", key="k")])
    assert store.states([one, two]) == {one: "running", two: "waiting"}


def test_a_cancel_requested_job_whose_lease_expires_is_cancelled(store: Store) -> None:
    one, two, other = store.enqueue([new(key="k"), new(key="k"), new()])
    claimed = claim(store, lease=0.2)
    assert {j.id for j in claimed} == {one, other}
    store.cancel([one])
    time.sleep(0.5)
    assert store.recover_expired() == 2
    assert store.states([one, two, other]) == {one: "cancelled", two: "queued", other: "retrying"}
    assert store.get(one).errors[-1]["type"] == "LeaseExpired"
    assert {j.id for j in claim(store)} == {two, other}
