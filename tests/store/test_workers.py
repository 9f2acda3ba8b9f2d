"""The workers slice, every backend: the registry of live workers, and the runnable counts
operators set against it."""

from __future__ import annotations

import time

from conveyor.store import Store

from .helpers import LEASE, new


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
    assert w1.started_at == w1.last_seen_at  # registered: seen when it started
    assert w1.runs("a", "any") and not w1.runs("c", "q1") and w2.runs("c", "q1")
    assert not w2.runs("c", "q3")
    time.sleep(0.01)
    assert store.heartbeat_worker("w1") is True
    [seen] = [w for w in store.list_workers() if w.worker_id == "w1"]
    assert seen.last_seen_at > seen.started_at == w1.started_at
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
