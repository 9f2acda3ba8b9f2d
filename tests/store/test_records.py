"""The records slice, every backend: runs open once and resume, pages write records, jobs and
checkpoints together, a page's ids are what a run saw, deletions come only with a finished scan,
children follow their item."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conveyor.job import NewJob
from conveyor.store import Store
from conveyor.store.records import PageWrite, RecordWrite
from conveyor.sync.records import content_hash


def item(external_id: str, data: object, kind: str = "", parent: str = "") -> RecordWrite:
    return RecordWrite(external_id, json.dumps(data), content_hash(data), kind, parent)


def page(key: str, *records: RecordWrite, seen: tuple[str, ...] = (), **extra: Any) -> PageWrite:
    """One page: its records written, and every item id on it (written or not) seen."""
    ids = [r.external_id for r in records if not r.kind] + list(seen)
    return PageWrite(writes=records, page_key=key, ids=ids, body_hash=f"h:{key}", **extra)


def job(ikey: str) -> NewJob:
    return NewJob(
        task="process", queue="default", payload="{}", max_attempts=3, idempotency_key=ikey
    )


def ids(store: Store, **kw: Any) -> list[str]:
    return [r.external_id for r in store.list_records("wf", **kw)]


def finish(store: Store, run_id: int, owner: str = "acme", **kw: Any) -> int:
    options: dict[str, Any] = {
        "state": "succeeded",
        "stats": {},
        "errors": [],
        "cursor": None,
        "delete_unseen": True,
    }
    options.update(kw)
    return store.finish_run(run_id, "wf", owner, **options)


def test_a_run_is_opened_once_and_resumed(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    again = store.open_run("wf", "acme", "incremental", None)
    assert again.id == run.id and again.mode == "full" and again.state == "running"
    other = store.open_run("wf", "globex", "incremental", None)
    assert other.id != run.id
    store.write_page(run.id, "wf", "acme", PageWrite(checkpoint={"path": "/w", "number": 3}))
    resumed = store.open_run("wf", "acme", "full", None)
    assert resumed.checkpoint == {"path": "/w", "number": 3}
    finish(store, run.id, delete_unseen=False)
    fresh = store.open_run("wf", "acme", "full", None)
    assert fresh.id != run.id and fresh.checkpoint is None


def test_a_finished_scan_deletes_the_items_on_none_of_its_pages(store: Store) -> None:
    first = store.open_run("wf", "acme", "full", None)
    store.write_page(first.id, "wf", "acme", page("/p1", item("1", {"a": 1}), item("2", {"b": 2})))
    store.write_page(first.id, "wf", "acme", page("/p2", item("3", {"c": 3})))
    finish(store, first.id, stats={"created": 3}, cursor="2026-01-01")
    assert ids(store) == ["1", "2", "3"]
    assert store.known_hashes("wf", "acme", ["1", "9"]) == {"1": (content_hash({"a": 1}), False)}
    assert store.page_hashes("wf", "acme") == {"/p1": "h:/p1", "/p2": "h:/p2"}

    second = store.open_run("wf", "acme", "full", None)
    before = {r.external_id: r for r in store.list_records("wf")}
    store.write_page(second.id, "wf", "acme", page("/p1", item("2", {"b": 20}), seen=("1",)))
    deleted = finish(store, second.id, stats={"updated": 1})
    assert deleted == 1
    assert ids(store) == ["1", "2"]
    assert ids(store, deleted=True) == ["3"]
    assert store.page_hashes("wf", "acme") == {"/p1": "h:/p1"}  # /p2 is past the end now
    after = {r.external_id: r for r in store.list_records("wf")}
    assert after["1"].updated_at == before["1"].updated_at  # unchanged: not rewritten
    assert after["1"].last_seen_at > before["1"].last_seen_at  # but seen by the scan
    assert after["2"].data == {"b": 20} and after["2"].first_seen_at == before["2"].first_seen_at
    run = store.get_run(second.id)
    assert run is not None and run.state == "succeeded" and run.stats["deleted"] == 1
    assert store.last_cursor("wf", "acme") == "2026-01-01"  # the latest succeeded run with one


def test_a_failed_or_partial_scan_deletes_nothing(store: Store) -> None:
    first = store.open_run("wf", "acme", "full", None)
    store.write_page(first.id, "wf", "acme", page("/p1", item("1", 1), item("2", 2)))
    finish(store, first.id)
    failed = store.open_run("wf", "acme", "full", None)
    store.write_page(failed.id, "wf", "acme", page("/p1", seen=("1",)))
    deleted = finish(
        store,
        failed.id,
        state="failed",
        errors=[{"message": "HTTP 500 on page 2"}],
        delete_unseen=False,
    )
    assert deleted == 0 and ids(store) == ["1", "2"]
    run = store.get_run(failed.id)
    assert run is not None and run.errors == [{"message": "HTTP 500 on page 2"}]


def test_an_item_that_comes_back_is_restored(store: Store) -> None:
    for present in (["1", "2"], ["1"], ["1", "2"]):
        run = store.open_run("wf", "acme", "full", None)
        store.write_page(run.id, "wf", "acme", page("/p1", *(item(i, {"v": i}) for i in present)))
        finish(store, run.id)
    assert ids(store) == ["1", "2"] and ids(store, deleted=True) == []


def test_a_page_without_a_hash_is_not_offered_for_skipping(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    unjudged = PageWrite(writes=[item("1", 1)], page_key="/p1", ids=["1"], body_hash=None)
    store.write_page(run.id, "wf", "acme", unjudged)
    assert store.page_hashes("wf", "acme") == {}


def test_children_follow_their_item(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(
        run.id,
        "wf",
        "acme",
        page(
            "/p1",
            item("w1", {}),
            item("t1", 1, "tasks", "w1"),
            item("t2", 2, "tasks", "w1"),
            item("w2", {}),
            item("t1", 9, "tasks", "w2"),
            rewritten_parents=["w1", "w2"],
        ),
    )
    finish(store, run.id)
    assert ids(store, kind="tasks") == ["t1", "t2", "t1"]

    run = store.open_run("wf", "acme", "full", None)  # w1 lost t2; w2 is gone
    store.write_page(
        run.id,
        "wf",
        "acme",
        page("/p1", item("w1", {"x": 1}), item("t1", 1, "tasks", "w1"), rewritten_parents=["w1"]),
    )
    finish(store, run.id)
    live = [(r.parent, r.external_id) for r in store.list_records("wf", kind="tasks")]
    gone = [(r.parent, r.external_id) for r in store.list_records("wf", kind="tasks", deleted=True)]
    assert live == [("w1", "t1")]
    assert gone == [("w1", "t2"), ("w2", "t1")]


def test_jobs_are_written_with_the_page_and_deduplicated(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    first = store.write_page(run.id, "wf", "acme", PageWrite(jobs=[job("wf:acme:1:h1")]))
    again = store.write_page(
        run.id, "wf", "acme", PageWrite(jobs=[job("wf:acme:1:h1"), job("wf:acme:2:h2")])
    )
    assert again[0] == first[0] and len(set(again)) == 2


def test_listing_pages_by_keyset_and_owner(store: Store) -> None:
    for owner in ("a", "b"):
        run = store.open_run("wf", owner, "full", None)
        store.write_page(run.id, "wf", owner, page("/p", *(item(str(i), i) for i in range(5))))
    listed = store.list_records("wf", limit=3)
    assert [(r.owner, r.external_id) for r in listed] == [("a", "0"), ("a", "1"), ("a", "2")]
    last = listed[-1]
    rest = store.list_records("wf", after=(last.owner, last.parent, last.external_id), limit=4)
    assert [(r.owner, r.external_id) for r in rest] == [
        ("a", "3"),
        ("a", "4"),
        ("b", "0"),
        ("b", "1"),
    ]
    assert len(store.list_records("wf", owner="b")) == 5
    assert store.list_records("wf", deleted=None, limit=1000)
    assert store.list_records("other") == []
    assert [r.owner for r in store.list_runs(source="wf")] == ["b", "a"]
    assert [r.owner for r in store.list_runs(owner="a")] == ["a"]
    assert store.run_owners("wf") == ["a", "b"] and store.run_owners("other") == []


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00Z", 17, {"page": 3}])
def test_cursors_of_every_json_type(store: Store, value: object) -> None:
    run = store.open_run("wf", "acme", "incremental", None)
    finish(store, run.id, cursor=value, delete_unseen=False)
    assert store.last_cursor("wf", "acme") == value
    assert store.last_cursor("wf", "nobody") is None


def test_a_failed_run_keeps_its_checkpoint_and_resumes_in_its_mode_only(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(run.id, "wf", "acme", PageWrite(checkpoint={"n": 2}))
    finish(store, run.id, state="failed", stats={"created": 1}, delete_unseen=False)
    failed = store.get_run(run.id)
    assert failed is not None and failed.state == "failed" and failed.checkpoint == {"n": 2}
    other_mode = store.open_run("wf", "acme", "since", 0.0)
    assert other_mode.id != run.id
    finish(store, other_mode.id, state="failed", delete_unseen=False)
    assert store.open_run("wf", "acme", "full", None).id not in (run.id, other_mode.id)


def test_the_latest_failed_run_resumes(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(run.id, "wf", "acme", PageWrite(checkpoint={"n": 5}, stats={"created": 4}))
    finish(
        store, run.id, state="failed", stats={"created": 4}, errors=[{"m": 1}], delete_unseen=False
    )
    resumed = store.open_run("wf", "acme", "full", None)
    assert resumed.id == run.id and resumed.state == "running"
    assert resumed.checkpoint == {"n": 5} and resumed.stats == {"created": 4, "deleted": 0}
    assert resumed.errors == [{"m": 1}]


def test_one_record_is_found_by_its_key(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    child = item("t1", {"t": 1}, kind="tasks", parent="1")
    store.write_page(run.id, "wf", "acme", page("/p1", item("1", {"a": 1}), child))
    store.write_page(run.id, "wf", "acme", page("/p2", item("2", {"b": 2})))
    finish(store, run.id)
    found = store.get_record("wf", "acme", "1")
    assert found is not None and found.data == {"a": 1} and found.deleted_at is None
    task = store.get_record("wf", "acme", "t1", kind="tasks", parent="1")
    assert task is not None and task.data == {"t": 1}
    assert store.get_record("wf", "acme", "t1") is None  # a child is not an item
    assert store.get_record("wf", "globex", "1") is None
    assert store.get_record("wf", "acme", "9") is None
    second = store.open_run("wf", "acme", "full", None)
    store.write_page(second.id, "wf", "acme", page("/p1", seen=("1",)))
    finish(store, second.id)
    gone = store.get_record("wf", "acme", "2")
    assert gone is not None and gone.deleted_at is not None  # a tombstone says so
