from __future__ import annotations

import pytest

from conveyor.errors import ConfigurationError
from conveyor.sync.paths import MISSING, JsonPath


@pytest.mark.parametrize(
    ("text", "document", "expected"),
    [
        ("data.items", {"data": {"items": [1, 2]}}, [1, 2]),
        ("$.data.items", {"data": {"items": [1]}}, [1]),
        ("results[1].id", {"results": [{"id": 1}, {"id": "b"}]}, "b"),
        ("$[0]", [{"a": 1}], {"a": 1}),
        ("$", [1, 2], [1, 2]),
        ("meta.next", {"meta": {"next": None}}, None),
    ],
)
def test_finds_the_value(text: str, document: object, expected: object) -> None:
    assert JsonPath.parse(text).find(document) == expected


@pytest.mark.parametrize(
    ("text", "document"),
    [
        ("data.items", {"data": {}}),
        ("data.items", {"data": [1]}),
        ("results[5]", {"results": [1]}),
        ("results[0]", {"results": {"0": 1}}),
        ("a.b", "text"),
    ],
)
def test_missing_is_not_null(text: str, document: object) -> None:
    assert JsonPath.parse(text).find(document) is MISSING


@pytest.mark.parametrize("text", ["", "  ", "a..b", "a[x]", "a[", "]"])
def test_a_bad_path_is_refused_when_declared(text: str) -> None:
    with pytest.raises(ConfigurationError, match="JSON path"):
        JsonPath.parse(text, what="items")


def test_missing_is_falsy_and_one_object() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"
