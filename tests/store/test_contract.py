"""One contract, every backend: the Store interface as the worker and operators use it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from conveyor.job import JobFilter, NewJob, Outcome
from conveyor.store import Store, open_store
from conveyor.store.sqlite import sqlite_path

LEASE = 30.0


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    yield s
    s.close()


def new(
    task: str = "t",
    key: str | None = None,
    leads: bool = False,
    ikey: str | None = None,
    priority: int = 0,
    queue: str = "default",
    delay: float = 0.0,
    max_attempts: int = 3,
    payload: str = '{"n": 1}',
) -> NewJob:
    return NewJob(
        task,
        queue,
        payload,
        max_attempts,
        key=key,
        leads_key=leads,
        idempotency_key=ikey,
        priority=priority,
        delay=delay,
    )


def claim(store: Store, limit: int = 10, queues: list[str] | None = None, lease: float = LEASE):
    return store.claim("w1", queues, limit, lease)


def succeed(store: Store, job, result: str | None = None) -> None:  # type: ignore[no-untyped-def]
    store.complete([Outcome(job.id, job.token, "succeeded", key=job.key, result=result)])


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == []
    assert store.schema_version() >= 1


def test_enqueue_and_get(store: Store) -> None:
    [job_id] = store.enqueue([new(payload='{"customer": 42}', key="c:42", ikey="i1")])
    job = store.get(job_id)
    assert job.payload == {"customer": 42}
    assert (job.state, job.key, job.idempotency_key, job.attempts) == ("queued", "c:42", "i1", 0)
    assert job.created_at is not None and job.run_at is not None


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


def test_run_at_in_the_past_is_due(store: Store) -> None:
    job = NewJob("t", "default", "{}", 3, run_at=datetime.now(UTC) - timedelta(seconds=5))
    [job_id] = store.enqueue([job])
    assert [j.id for j in claim(store)] == [job_id]


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


def test_expired_leases_are_recovered(store: Store) -> None:
    first, last = store.enqueue([new(max_attempts=2), new(max_attempts=1)])
    claimed = claim(store, lease=0.2)
    assert len(claimed) == 2
    time.sleep(0.5)
    assert store.recover_expired() == 2
    assert store.get(first).state == "retrying"
    assert store.get(first).errors[-1]["type"] == "LeaseExpired"
    assert store.get(last).state == "dead"  # its only attempt was used


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
    store.complete([Outcome(job.id, job.token, "retry", key="k", error={"message": "x"})])
    assert [j.id for j in claim(store)] == [one]
    assert store.get(two).state == "waiting"


def test_a_dead_head_blocks_its_key_until_retried(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "dead", key="k", error={"message": "nope"})])
    [blocked] = store.blocked_keys()
    assert (blocked.key, blocked.job_id, blocked.last_error, blocked.waiting) == (
        "k",
        one,
        "nope",
        1,
    )
    assert claim(store) == []
    assert store.retry([one]) == [one]
    [again] = claim(store)
    assert (again.id, again.attempt) == (one, 1)
    succeed(store, again)
    assert [j.id for j in claim(store)] == [two]
    assert store.blocked_keys() == []


def test_operator_retry_can_edit_the_payload(store: Store) -> None:
    [one] = store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "dead", error={"message": "bad"})])
    store.retry([one], payload='{"n": 2}')
    assert store.get(one).payload == {"n": 2}


def test_operator_retry_refuses_other_states(store: Store) -> None:
    [one] = store.enqueue([new()])
    assert store.retry([one]) == []
    assert store.retry([999999]) == []


def test_cancelling_a_dead_head_releases_its_key(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "dead", key="k", error={"message": "x"})])
    assert store.cancel([one]) == [one]
    assert [j.id for j in claim(store)] == [two]


def test_cancel_and_delete(store: Store) -> None:
    one, two, three = store.enqueue([new(key="k"), new(key="k"), new()])
    assert store.cancel([two]) == [two]
    assert store.states([one, two]) == {one: "queued", two: "cancelled"}
    assert store.delete([three, 424242]) == [three]
    assert store.states([three]) == {}
    [job] = claim(store)
    assert store.delete([job.id]) == []  # running jobs are not deleted
    assert store.cancel([two]) == []  # already final


def test_deleting_a_dead_head_releases_its_key(store: Store) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "dead", key="k", error={"message": "x"})])
    assert store.delete([one]) == [one]
    assert [j.id for j in claim(store)] == [two]


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


def test_idempotency_keys_dedupe_and_outlive_pruning(store: Store) -> None:
    [one] = store.enqueue([new(ikey="order:7")])
    assert store.enqueue([new(ikey="order:7"), new(ikey="order:8")])[0] == one
    [job] = claim(store, limit=1)
    succeed(store, job)
    assert store.prune(older_than=0) == 1
    assert store.enqueue([new(ikey="order:7")]) == [one]
    assert store.prune(older_than=0, idempotency_older_than=0) >= 0
    assert store.enqueue([new(ikey="order:7")]) != [one]


def test_prune_keeps_recent_and_unfinished_jobs(store: Store) -> None:
    done, waiting = store.enqueue([new(), new(delay=60)])
    [job] = claim(store)
    succeed(store, job)
    assert store.prune(older_than=3600) == 0
    assert store.prune(older_than=0) == 1
    assert store.states([done, waiting]) == {waiting: "queued"}


def test_bulk_enqueue_returns_ids_in_order(store: Store) -> None:
    ids = store.enqueue([new(payload=f'{{"n": {n}}}') for n in range(500)])
    assert len(set(ids)) == 500
    assert [store.get(i).payload["n"] for i in ids[::50]] == list(range(0, 500, 50))


def test_list_and_stats(store: Store) -> None:
    store.enqueue([new(task="a", queue="q1"), new(task="b", queue="q2"), new(task="b", key="k")])
    assert [j.task for j in store.list_jobs(JobFilter(task="b"))] == ["b", "b"]
    assert len(store.list_jobs(JobFilter(limit=1))) == 1
    assert [j.key for j in store.list_jobs(JobFilter(key="k"))] == ["k"]
    assert ("q1", "queued", 1) in store.stats()
    assert store.list_jobs(JobFilter(state="dead")) == []


def _user_connection(database_url: str):  # type: ignore[no-untyped-def]
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


def test_postpone_returns_the_job_without_using_the_attempt(store: Store) -> None:
    [job_id] = store.enqueue([new()])
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "postpone", delay=60)])
    stored = store.get(job_id)
    assert (stored.state, stored.attempts) == ("queued", 0)
    assert claim(store) == []
    due = store.seconds_until_due(None)
    assert due is not None and 50 < due <= 60


def test_rate_limit_tokens_are_shared_and_refill(store: Store) -> None:
    from conveyor.ratelimit import RateLimit

    limit = RateLimit(rate=10, burst=3)  # one token every 0.1 s, 3 back to back
    assert [store.take_token("shop", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = store.take_token("shop", limit)
    assert 0.05 < wait <= 0.1
    assert store.take_token("other", limit) == 0.0  # buckets are per name
    time.sleep(wait + 0.01)
    assert store.take_token("shop", limit) == 0.0
    assert store.take_token("shop", limit) > 0


def test_breaker_changes_are_stored_under_a_lock(store: Store) -> None:
    from conveyor.breaker import Breaker, on_failure, on_success

    settings = Breaker(failures=2, cool_off=30)
    assert store.breaker("shop") is None
    before, after = store.change_breaker(
        "shop", lambda r, now: on_failure(r, "shop", now, settings, "500")
    )
    assert before is None and after is not None and after.state == "closed"
    _, after = store.change_breaker(
        "shop", lambda r, now: on_failure(r, "shop", now, settings, "503")
    )
    assert after is not None and after.state == "open" and after.last_error == "503"
    stored = store.breaker("shop")
    assert stored is not None and stored.open_until is not None
    assert 25 < stored.open_until - store.clock() <= 30
    before, after = store.change_breaker("shop", lambda r, now: on_success(r, now, settings))
    assert before is not None and before.state == "open" and after is not None
    assert [(b.name, b.state, b.failures) for b in store.breakers()] == [("shop", "closed", 0)]
    _, unchanged = store.change_breaker("shop", lambda r, now: on_success(r, now, settings))
    assert unchanged is None


def test_a_postponement_keeps_its_reason_until_the_next_claim(store: Store) -> None:
    [job_id] = store.enqueue([new()])
    assert store.any_postponed(None) is False
    [job] = claim(store)
    store.complete([Outcome(job.id, job.token, "postpone", delay=0, reason="rate limit of 'x'")])
    assert store.get(job_id).postponed_reason == "rate limit of 'x'"
    assert (store.any_postponed(None), store.any_postponed(["default"])) == (True, True)
    assert store.any_postponed(["elsewhere"]) is False
    [again] = claim(store)
    assert store.get(job_id).postponed_reason is None
    store.complete([Outcome(again.id, again.token, "handback")])
    assert store.get(job_id).postponed_reason is None and store.any_postponed(None) is False


def test_cancelling_a_running_keyed_job_keeps_its_key_until_the_attempt_ends(
    store: Store,
) -> None:
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    assert store.cancel([one]) == [one]
    assert store.cancel([one]) == [one]  # asking again changes nothing
    running = store.get(one)
    assert running.state == "running" and running.cancel_requested_at is not None
    assert running.to_dict()["cancel_requested_at"] is not None
    assert store.get(two).state == "waiting" and claim(store) == []
    assert store.cancel_requested([one, two, 424242]) == {one}
    store.complete([Outcome(job.id, job.token, "cancelled", key="k")])
    cancelled = store.get(one)
    assert (cancelled.state, cancelled.attempts) == ("cancelled", 1)
    assert cancelled.finished_at is not None and cancelled.lease_expires_at is None
    assert store.cancel_requested([one]) == set()
    assert [j.id for j in claim(store)] == [two]


@pytest.mark.parametrize("kind", ["succeeded", "retry", "dead", "handback", "postpone"])
def test_any_end_of_a_cancel_requested_attempt_cancels_the_job(store: Store, kind: str) -> None:
    # The worker may write its usual outcome before it learns of the request: the store decides.
    one, two = store.enqueue([new(key="k"), new(key="k")])
    [job] = claim(store)
    store.cancel([one])
    assert store.get(two).state == "waiting"
    error = {"attempt": 1, "message": "boom"} if kind in ("retry", "dead") else None
    result = '"done"' if kind == "succeeded" else None
    outcome = Outcome(job.id, job.token, kind, key="k", error=error, result=result)  # type: ignore[arg-type]
    store.complete([outcome])
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
