"""The records slice, every backend: runs open once and resume, pages write records, jobs and
checkpoints together, unchanged items are only marked seen, deletions come only with a finished
scan, children follow their item."""

from __future__ import annotations

import json

import pytest

from conveyor.job import NewJob
from conveyor.store import Store
from conveyor.store.records import PageWrite, RecordWrite
from conveyor.sync.records import content_hash


def item(external_id: str, data: object, kind: str = "", parent: str = "") -> RecordWrite:
    return RecordWrite(external_id, json.dumps(data), content_hash(data), kind, parent)


def job(ikey: str) -> NewJob:
    return NewJob(
        task="process", queue="default", payload="{}", max_attempts=3, idempotency_key=ikey
    )


def ids(store: Store, **kw: object) -> list[str]:
    return [r.external_id for r in store.list_records("wf", **kw)]  # type: ignore[arg-type]


def test_a_run_is_opened_once_and_resumed(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    again = store.open_run("wf", "acme", "incremental", None)
    assert again.id == run.id and again.mode == "full" and again.state == "running"
    other = store.open_run("wf", "globex", "incremental", None)
    assert other.id != run.id
    store.write_page(run.id, "wf", "acme", PageWrite(checkpoint={"path": "/w", "number": 3}))
    resumed = store.open_run("wf", "acme", "full", None)
    assert resumed.checkpoint == {"path": "/w", "number": 3}
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="succeeded",
        stats={},
        errors=[],
        cursor=None,
        delete_unseen=False,
    )
    fresh = store.open_run("wf", "acme", "full", None)
    assert fresh.id != run.id and fresh.checkpoint is None


def test_pages_upsert_and_a_finished_scan_deletes_what_it_did_not_see(store: Store) -> None:
    first = store.open_run("wf", "acme", "full", None)
    store.write_page(
        first.id, "wf", "acme", PageWrite(writes=[item("1", {"a": 1}), item("2", {"b": 2})])
    )
    store.write_page(first.id, "wf", "acme", PageWrite(writes=[item("3", {"c": 3})]))
    store.finish_run(
        first.id,
        "wf",
        "acme",
        state="succeeded",
        stats={"created": 3},
        errors=[],
        cursor="2026-01-01",
        delete_unseen=True,
    )
    assert ids(store) == ["1", "2", "3"]
    assert store.known_hashes("wf", "acme", ["1", "9"]) == {"1": (content_hash({"a": 1}), False)}

    second = store.open_run("wf", "acme", "incremental", None)
    before = {r.external_id: r for r in store.list_records("wf")}
    store.write_page(
        second.id, "wf", "acme", PageWrite(writes=[item("2", {"b": 20})], unchanged=["1"])
    )
    deleted = store.finish_run(
        second.id,
        "wf",
        "acme",
        state="succeeded",
        stats={"updated": 1},
        errors=[],
        cursor=None,
        delete_unseen=True,
    )
    assert deleted == 1
    assert ids(store) == ["1", "2"]
    assert ids(store, deleted=True) == ["3"]
    after = {r.external_id: r for r in store.list_records("wf")}
    assert after["1"].updated_at == before["1"].updated_at  # unchanged: not rewritten
    assert after["1"].last_seen_at >= before["1"].last_seen_at
    assert after["2"].data == {"b": 20} and after["2"].first_seen_at == before["2"].first_seen_at
    run = store.get_run(second.id)
    assert run is not None and run.state == "succeeded" and run.stats["deleted"] == 1
    assert store.last_cursor("wf", "acme") == "2026-01-01"  # the last succeeded run with one


def test_a_failed_scan_deletes_nothing(store: Store) -> None:
    first = store.open_run("wf", "acme", "full", None)
    store.write_page(first.id, "wf", "acme", PageWrite(writes=[item("1", 1), item("2", 2)]))
    store.finish_run(
        first.id,
        "wf",
        "acme",
        state="succeeded",
        stats={},
        errors=[],
        cursor=None,
        delete_unseen=True,
    )
    failed = store.open_run("wf", "acme", "full", None)
    store.write_page(failed.id, "wf", "acme", PageWrite(unchanged=["1"]))
    deleted = store.finish_run(
        failed.id,
        "wf",
        "acme",
        state="failed",
        stats={},
        errors=[{"message": "HTTP 500 on page 2"}],
        cursor=None,
        delete_unseen=False,
    )
    assert deleted == 0 and ids(store) == ["1", "2"]
    run = store.get_run(failed.id)
    assert run is not None and run.errors == [{"message": "HTTP 500 on page 2"}]


def test_an_item_that_comes_back_is_restored(store: Store) -> None:
    for present in (["1", "2"], ["1"], ["1", "2"]):
        run = store.open_run("wf", "acme", "full", None)
        store.write_page(
            run.id, "wf", "acme", PageWrite(writes=[item(i, {"v": i}) for i in present])
        )
        store.finish_run(
            run.id,
            "wf",
            "acme",
            state="succeeded",
            stats={},
            errors=[],
            cursor=None,
            delete_unseen=True,
        )
    assert ids(store) == ["1", "2"] and ids(store, deleted=True) == []


def test_children_follow_their_item(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(
        run.id,
        "wf",
        "acme",
        PageWrite(
            writes=[
                item("w1", {}),
                item("t1", 1, "tasks", "w1"),
                item("t2", 2, "tasks", "w1"),
                item("w2", {}),
                item("t1", 9, "tasks", "w2"),
            ],
            rewritten_parents=["w1", "w2"],
        ),
    )
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="succeeded",
        stats={},
        errors=[],
        cursor=None,
        delete_unseen=True,
    )
    assert ids(store, kind="tasks") == ["t1", "t2", "t1"]

    run = store.open_run("wf", "acme", "full", None)  # w1 lost t2; w2 is gone
    store.write_page(
        run.id,
        "wf",
        "acme",
        PageWrite(
            writes=[item("w1", {"x": 1}), item("t1", 1, "tasks", "w1")], rewritten_parents=["w1"]
        ),
    )
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="succeeded",
        stats={},
        errors=[],
        cursor=None,
        delete_unseen=True,
    )
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
        store.write_page(run.id, "wf", owner, PageWrite(writes=[item(str(i), i) for i in range(5)]))
    page = store.list_records("wf", limit=3)
    assert [(r.owner, r.external_id) for r in page] == [("a", "0"), ("a", "1"), ("a", "2")]
    last = page[-1]
    rest = store.list_records("wf", after=(last.owner, last.parent, last.external_id), limit=4)
    assert [(r.owner, r.external_id) for r in rest] == [
        ("a", "3"),
        ("a", "4"),
        ("b", "0"),
        ("b", "1"),
    ]
    assert len(store.list_records("wf", owner="b")) == 5
    assert store.list_records("wf", deleted=None, limit=1000) and store.list_records("other") == []
    runs = store.list_runs(source="wf")
    assert [r.owner for r in runs] == ["b", "a"]
    assert [r.owner for r in store.list_runs(owner="a")] == ["a"]


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00Z", 17, {"page": 3}])
def test_cursors_of_every_json_type(store: Store, value: object) -> None:
    run = store.open_run("wf", "acme", "incremental", None)
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="succeeded",
        stats={},
        errors=[],
        cursor=value,
        delete_unseen=False,
    )
    assert store.last_cursor("wf", "acme") == value
    assert store.last_cursor("wf", "nobody") is None


def test_a_failed_run_keeps_its_checkpoint_and_is_resumed_in_the_same_mode(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(run.id, "wf", "acme", PageWrite(writes=[item("1", 1)], checkpoint={"n": 2}))
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="failed",
        stats={"created": 1},
        errors=[],
        cursor=None,
        delete_unseen=False,
    )
    failed = store.get_run(run.id)
    assert failed is not None and failed.state == "failed" and failed.checkpoint == {"n": 2}
    other_mode = store.open_run("wf", "acme", "since", 0.0)
    assert other_mode.id != run.id
    store.finish_run(
        other_mode.id,
        "wf",
        "acme",
        state="failed",
        stats={},
        errors=[],
        cursor=None,
        delete_unseen=False,
    )
    assert store.open_run("wf", "acme", "full", None).id not in (run.id, other_mode.id)


def test_the_latest_failed_run_resumes(store: Store) -> None:
    run = store.open_run("wf", "acme", "full", None)
    store.write_page(run.id, "wf", "acme", PageWrite(checkpoint={"n": 5}, stats={"created": 4}))
    store.finish_run(
        run.id,
        "wf",
        "acme",
        state="failed",
        stats={"created": 4},
        errors=[{"m": 1}],
        cursor=None,
        delete_unseen=False,
    )
    resumed = store.open_run("wf", "acme", "full", None)
    assert resumed.id == run.id and resumed.state == "running"
    assert resumed.checkpoint == {"n": 5} and resumed.stats == {"created": 4, "deleted": 0}
    assert resumed.errors == [{"m": 1}]
