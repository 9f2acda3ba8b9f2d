"""The metrics slice, every backend: the age of each queue's oldest runnable job, by the store's
clock, counting neither jobs not yet due nor jobs running, finished or waiting behind a key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conveyor.store import Store
from tests.store.helpers import claim, new, succeed


def test_oldest_due_is_per_queue_and_only_runnable_jobs(store: Store) -> None:
    assert store.oldest_due() == {}
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old = new(queue="mail")
    old.run_at = hour_ago
    store.enqueue([old, new(queue="mail"), new(queue="later", delay=3600)])
    ages = store.oldest_due()
    assert ages.keys() == {"mail"}  # a job due in an hour does not wait yet
    assert 3600 <= ages["mail"] < 3600 + 600
    [running] = claim(store, limit=1, queues=["mail"])  # the old one: it is due first
    assert running.queue == "mail"
    assert store.oldest_due()["mail"] < 600  # the other one, enqueued just now
    [second] = claim(store, limit=1, queues=["mail"])
    assert store.oldest_due() == {}  # both running
    succeed(store, running)
    succeed(store, second)
    store.enqueue([new(key="k"), new(key="k")])  # the second waits behind the first
    assert list(store.oldest_due()) == ["default"]
    claim(store, limit=5, queues=["default"])
    assert store.oldest_due() == {}  # the waiting one is not runnable


def _summary_parts(store: Store) -> tuple[dict[str, float], list[tuple[str, str, int]]]:
    due: dict[str, float] = {}
    counts = []
    for queue, task, n, age in store.runnable_summary():
        counts.append((queue, task, n))
        if age is not None:
            due[queue] = max(due.get(queue, 0.0), age)
    return due, sorted(counts)


def _agrees(store: Store) -> None:
    """runnable_summary is oldest_due and runnable_counts read at once (ages to the second:
    the two reads are a moment apart)."""
    due, counts = _summary_parts(store)
    assert counts == sorted(store.runnable_counts())
    exact = store.oldest_due()
    assert due.keys() == exact.keys()
    assert all(abs(due[queue] - exact[queue]) < 2 for queue in due)


def test_the_runnable_summary_is_oldest_due_and_runnable_counts_in_one_read(store: Store) -> None:
    assert store.runnable_summary() == []
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old = new(queue="mail", task="send")
    old.run_at = hour_ago
    store.enqueue(
        [
            old,
            new(queue="mail", task="send"),
            new(queue="mail", task="bounce"),
            new(queue="later", delay=3600),
            new(key="k"),
            new(key="k"),
        ]
    )
    _agrees(store)
    by_group = {(q, t): (n, age) for q, t, n, age in store.runnable_summary()}
    assert by_group[("later", "t")][0] == 1 and by_group[("later", "t")][1] is None  # not due
    assert by_group[("mail", "send")][0] == 2 and by_group[("mail", "send")][1] >= 3600
    claim(store, limit=2, queues=["mail"])
    _agrees(store)
    claim(store, limit=5, queues=["default"])  # the keyed one: its follower waits, not runnable
    _agrees(store)
    assert ("default", "t") not in {(q, t) for q, t, _, _ in store.runnable_summary()}


def test_postgres_reads_start_no_parallel_workers(store: Store) -> None:
    """A big backlog's aggregates got parallel plans: three backends for the time of one, on a
    machine the workers share. Every pooled connection is set to serial plans."""
    if store.dialect != "postgres":
        pytest.skip("SQLite has no parallel plans")
    with store._read() as cur:  # type: ignore[attr-defined]
        assert cur.execute("SHOW max_parallel_workers_per_gather").fetchone() == ("0",)
