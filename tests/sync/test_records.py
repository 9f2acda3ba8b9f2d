from __future__ import annotations

import pytest

from conveyor.errors import ConfigurationError
from conveyor.sync.paths import JsonPath
from conveyor.sync.records import (
    Children,
    DetailPath,
    SyncStats,
    change_of,
    children_spec,
    content_hash,
    external_id,
    newer_cursor,
)


def test_hash_ignores_key_order_but_not_values() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert content_hash({"a": [1, 2]}) != content_hash({"a": [2, 1]})


def test_change_kinds() -> None:
    assert change_of(None, False, "h") == "created"
    assert change_of("h", False, "h") == "unchanged"
    assert change_of("h", False, "k") == "updated"
    assert change_of("h", True, "h") == "updated"  # it came back after a deletion


def test_external_ids_are_text() -> None:
    path = JsonPath.parse("id")
    assert external_id({"id": 7}, path) == "7"
    assert external_id({"id": "7"}, path) == "7"
    for bad in ({}, {"id": None}, {"id": ""}, {"id": {"x": 1}}, {"id": True}):
        with pytest.raises(ValueError, match="id"):
            external_id(bad, path)


def test_children_with_ids_and_by_position() -> None:
    data = {"export": {"tasks": [{"key": "a", "n": 1}, {"n": 2}]}}
    assert list(Children("export.tasks", id="key").extract(data)) == [
        ("a", {"key": "a", "n": 1}),
        ("1", {"n": 2}),
    ]
    assert [cid for cid, _ in Children("export.tasks", id=None).extract(data)] == ["0", "1"]
    assert list(Children("export.nothing").extract(data)) == []
    spec = children_spec({"tasks": "export.tasks"})
    assert spec["tasks"].items == "export.tasks"
    with pytest.raises(ConfigurationError):
        children_spec({"": "x"})
    with pytest.raises(ConfigurationError):
        children_spec(["tasks"])  # type: ignore[arg-type]


def test_detail_paths_are_encoded() -> None:
    detail = DetailPath("/workflows/{id}/export")
    assert detail.format("a/b c", {}) == "/workflows/a%2Fb%20c/export"
    other = DetailPath("/accounts/{account_id}/tx/{id}")
    assert other.format("9", {"account_id": "x?y"}) == "/accounts/x%3Fy/tx/9"
    with pytest.raises(ValueError, match="account_id"):
        other.format("9", {})


@pytest.mark.parametrize("template", ["", "/items", "/items/{", "/items/{0}", "/x/{a.b}"])
def test_bad_detail_templates(template: str) -> None:
    with pytest.raises(ConfigurationError):
        DetailPath(template)


def test_stats() -> None:
    stats = SyncStats()
    for change in ("created", "created", "updated", "unchanged"):
        stats.count(change)  # type: ignore[arg-type]
    assert stats.to_json() == {
        "created": 2,
        "updated": 1,
        "unchanged": 1,
        "deleted": 0,
        "total": 4,
        "errors": 0,
    }


def test_incremental_cursor_keeps_the_largest() -> None:
    path = JsonPath.parse("updated_at")
    cursor = None
    for item in (
        {"updated_at": "2026-01-02T00:00:00Z"},
        {"updated_at": "2026-03-01T00:00:00Z"},
        {"updated_at": None},
        {"updated_at": 5},
        {},
        {"updated_at": "2026-02-01T00:00:00Z"},
    ):
        cursor = newer_cursor(cursor, item, path)
    assert cursor == "2026-03-01T00:00:00Z"
    assert newer_cursor(3, {"updated_at": 9.5}, path) == 9.5
