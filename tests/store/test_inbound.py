"""The inbound slice, every backend: an event stored with its jobs in one transaction, a known
event id storing nothing, and two deliveries of one event at once storing it once."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from conveyor.errors import StoreError
from conveyor.inbound.records import NewEvent
from conveyor.job import JobFilter
from conveyor.store import Store, open_store

from .helpers import claim, new

BODY = b'{"items": [1, 2, 3], "note": "\xc3\xa9"}'


def event(event_id: str = "evt_1", webhook: str = "health") -> NewEvent:
    return NewEvent(webhook, event_id, BODY, {"webhook-id": event_id, "content-type": "a/json"})


def test_an_event_is_stored_with_its_jobs(store: Store) -> None:
    stored, ids = store.receive_event(event(), [new(payload="1"), new(payload="2")])
    assert stored and len(ids) == 2
    assert [job.id for job in claim(store)] == ids
    got = store.get_event("health", "evt_1")
    assert got is not None
    assert (got.webhook, got.event_id, got.body, got.job_ids) == ("health", "evt_1", BODY, ids)
    assert got.headers == {"webhook-id": "evt_1", "content-type": "a/json"}
    assert isinstance(got.received_at, datetime) and got.received_at.tzinfo is not None


def test_a_known_event_id_stores_nothing_and_gives_the_first_jobs(store: Store) -> None:
    _, first = store.receive_event(event(), [new(), new()])
    stored, again = store.receive_event(event(), [new(), new(), new()])
    assert (stored, again) == (False, first)
    assert len(store.list_jobs(JobFilter(limit=100))) == 2
    assert len(store.list_events()) == 1


def test_the_event_id_is_unique_per_webhook(store: Store) -> None:
    assert store.receive_event(event(webhook="a"), [new()])[0]
    assert store.receive_event(event(webhook="b"), [new()])[0]
    assert [e.webhook for e in store.list_events()] == ["b", "a"]  # newest first
    assert [e.webhook for e in store.list_events("a")] == ["a"]
    assert store.list_events(limit=1)[0].webhook == "b"
    assert store.get_event("c", "evt_1") is None


def test_an_event_without_jobs_is_still_stored(store: Store) -> None:
    assert store.receive_event(event(), []) == (True, [])
    assert store.receive_event(event(), []) == (False, [])


def test_jobs_that_cannot_be_stored_leave_no_event(store: Store) -> None:
    """One transaction: a job the database refuses (no queue) takes its event with it, so the
    sender's retry is stored in full."""
    broken = new()
    broken.queue = None  # type: ignore[assignment]
    with pytest.raises(StoreError):
        store.receive_event(event(), [new(), broken])
    assert store.get_event("health", "evt_1") is None
    assert claim(store) == []
    stored, ids = store.receive_event(event(), [new()])
    assert stored and len(ids) == 1


def test_two_deliveries_of_one_event_at_once_store_it_once(database_url: str) -> None:
    stores = [open_store(database_url) for _ in range(4)]
    start = threading.Barrier(len(stores))
    results: list[tuple[bool, list[int]]] = []

    def deliver(store: Store) -> None:
        start.wait()
        results.append(store.receive_event(event(), [new(), new()]))

    threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(stored for stored, _ in results) == [False, False, False, True]
        [winner] = [ids for stored, ids in results if stored]
        assert all(ids == winner for _, ids in results)
        assert len(claim(stores[0], limit=100)) == 2
    finally:
        for s in stores:
            s.close()


def test_a_batch_stores_each_event_once_in_order(store: Store) -> None:
    """Many requests in one transaction (group commit): an id known before, and one given twice
    in the batch, are duplicates that get the first delivery's jobs."""
    _, known = store.receive_event(event("old"), [new(payload="0")])
    results = store.receive_events(
        [
            (event("a"), [new(payload="1"), new(payload="2")]),
            (event("old"), [new(payload="9")]),
            (event("b"), []),
            (event("a"), [new(payload="9")]),
            (event("c"), [new(payload="3")]),
        ]
    )
    assert [stored for stored, _ in results] == [True, False, True, False, True]
    a, old, b, a_again, c = (ids for _, ids in results)
    assert old == known and a_again == a and b == [] and len(a) == 2 and len(c) == 1
    payloads = {job.id: job.payload for job in store.list_jobs(JobFilter(limit=100))}
    assert [payloads[i] for i in [*a, *c]] == [1, 2, 3]
    assert len(payloads) == 4  # no job of a duplicate
    assert store.get_event("health", "a").job_ids == a  # type: ignore[union-attr]
    assert store.receive_events([]) == []


def test_batches_sharing_ids_in_opposite_orders_do_not_deadlock(database_url: str) -> None:
    """Two batches at once, the same ids in opposite orders: both finish, each id stored once
    (PostgreSQL inserts a batch in key order, so its unique-index locks come in one order)."""
    stores = [open_store(database_url) for _ in range(2)]
    try:
        for round_no in range(10):
            ids = [f"r{round_no}-{n}" for n in range(300)]
            start = threading.Barrier(2)
            outcomes: list[object] = []

            def deliver(
                store: Store,
                order: list[str],
                start: threading.Barrier = start,
                outcomes: list[object] = outcomes,
            ) -> None:
                start.wait()
                try:
                    outcomes.append(store.receive_events([(event(i), [new()]) for i in order]))
                except StoreError as error:
                    outcomes.append(error)

            threads = [
                threading.Thread(target=deliver, args=(stores[0], ids)),
                threading.Thread(target=deliver, args=(stores[1], ids[::-1])),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not [o for o in outcomes if isinstance(o, StoreError)], outcomes
            stored = [s for result in outcomes for s, _ in result]  # type: ignore[attr-defined]
            assert stored.count(True) == 300
    finally:
        for s in stores:
            s.close()
