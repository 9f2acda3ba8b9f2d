"""The metrics slice, every backend: the age of each queue's oldest runnable job, by the store's
clock, counting neither jobs not yet due nor jobs running, finished or waiting behind a key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
