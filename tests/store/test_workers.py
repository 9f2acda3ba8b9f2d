"""Store contract, every backend: the claim's task filter and the live workers' registry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conveyor.store import Store, open_store
from tests.store.test_contract import LEASE, new


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url)
    yield s
    s.close()


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


def test_workers_register_heartbeat_and_unregister(store: Store) -> None:
    store.register_worker("w1", "host-a", 101, None, ["a", "b"], 30.0)
    store.register_worker("w2", "host-b", 202, ["q1", "q2"], ["c"], 30.0)
    w1, w2 = store.list_workers()
    assert (w1.worker_id, w1.hostname, w1.pid, w1.queues, w1.tasks) == (
        "w1",
        "host-a",
        101,
        None,
        ["a", "b"],
    )
    assert (w2.worker_id, w2.queues, w2.tasks, w2.lease_seconds) == ("w2", ["q1", "q2"], ["c"], 30)
    assert w1.started_at is not None and w1.last_seen_at is not None
    assert w1.runs("a", "any") and not w1.runs("c", "q1") and w2.runs("c", "q1")
    assert not w2.runs("c", "q3")
    assert store.heartbeat_worker("w1") is True
    store.unregister_worker("w1")
    assert [w.worker_id for w in store.list_workers()] == ["w2"]
    assert store.heartbeat_worker("w1") is False  # gone: the worker registers again
    store.register_worker("w2", "host-b", 303, None, ["c", "d"], 30.0)  # restarted, same id
    [again] = store.list_workers()
    assert (again.pid, again.queues, again.tasks) == (303, None, ["c", "d"])


def test_workers_unseen_for_three_leases_are_gone(store: Store) -> None:
    store.register_worker("stale", "host", 1, None, ["a"], 0.01)
    store.register_worker("fresh", "host", 2, None, ["a"], 30.0)
    time.sleep(0.1)
    assert [w.worker_id for w in store.list_workers()] == ["fresh"]
    store.recover_expired()  # the workers' periodic sweep prunes the stale row
    assert store.heartbeat_worker("stale") is False
    assert store.heartbeat_worker("fresh") is True


def test_runnable_counts_per_queue_and_task(store: Store) -> None:
    store.enqueue([new(task="a"), new(task="a"), new(task="b", queue="q2"), new(task="c", key="k")])
    store.enqueue([new(task="c", key="k")])  # waiting behind its key: not runnable
    [done] = store.claim("w1", None, 10, LEASE, tasks=["b"])
    store.enqueue([new(task="b", queue="q2")])
    assert store.runnable_counts() == [("default", "a", 2), ("default", "c", 1), ("q2", "b", 1)]
    assert done.task == "b"
