"""What a scan decides about each item, as pure functions: its external id, its content hash,
whether it is new, changed or unchanged, the children it holds, and a run's stats.

The hash is SHA-256 over canonical JSON (sorted keys, no spaces), so the same data hashes the
same whichever order the remote sent the keys in; an unchanged record is detected by it and not
rewritten (a re-sync is mostly reads).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from string import Formatter
from typing import Any, Literal
from urllib.parse import quote

from ..errors import ConfigurationError
from .paths import MISSING, JsonPath

Change = Literal["created", "updated", "unchanged"]


def canonical(data: Any) -> str:
    """The JSON text an item is hashed and stored as: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def content_hash(data: Any) -> str:
    return digest(canonical(data))


def change_of(stored_hash: str | None, stored_deleted: bool, new_hash: str) -> Change:
    """A record seen again after it was marked deleted counts as updated (it came back)."""
    if stored_hash is None:
        return "created"
    if stored_deleted or stored_hash != new_hash:
        return "updated"
    return "unchanged"


def external_id(item: Any, path: JsonPath) -> str:
    """The item's id as text (ids are compared as text: 7 and "7" are the same record)."""
    value = path.find(item)
    if value is MISSING or value is None or isinstance(value, dict | list) or value == "":
        raise ValueError(f"item has no usable id at {path.text!r}: {_excerpt(item)}")
    if isinstance(value, bool):
        raise ValueError(f"item id at {path.text!r} is a boolean: {_excerpt(item)}")
    return str(value)


@dataclass(frozen=True)
class Children:
    """Child records held inside each item (`items`, a JSON path to a list), with their own id
    (`id`, a JSON path inside each child; the child's position when None)."""

    items: str
    id: str | None = "id"
    _items: JsonPath = field(init=False, repr=False, compare=False, default=JsonPath("$", ()))
    _id: JsonPath | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_items", JsonPath.parse(self.items, what="children items"))
        if self.id is not None:
            object.__setattr__(self, "_id", JsonPath.parse(self.id, what="children id"))

    def extract(self, data: Any) -> Iterator[tuple[str, Any]]:
        """(child id, child data) for each child; none when the path finds no list."""
        found = self._items.find(data)
        if not isinstance(found, list):
            return
        for position, child in enumerate(found):
            if self._id is None:
                yield str(position), child
                continue
            try:
                yield external_id(child, self._id), child
            except ValueError:
                yield str(position), child


def children_spec(spec: Mapping[str, str | Children] | None) -> dict[str, Children]:
    """`children={"tasks": "export.tasks"}` or `{"tasks": Children("export.tasks", id="key")}`."""
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ConfigurationError("children must map a child kind to a JSON path or Children(...)")
    result: dict[str, Children] = {}
    for kind, value in spec.items():
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigurationError(f"a child kind must be a name, not {kind!r}")
        result[kind] = value if isinstance(value, Children) else Children(value)
    return result


class DetailPath:
    """A detail URL template such as `/workflows/{id}/export`: `{id}` is the item's external id,
    any other `{name}` a top-level field of the item; every value is percent-encoded."""

    def __init__(self, template: str) -> None:
        if not isinstance(template, str) or not template.strip():
            raise ConfigurationError(f"detail must be a path template, not {template!r}")
        try:
            names = [
                name for _, name, spec, conv in Formatter().parse(template) if name is not None
            ]
        except ValueError as error:
            raise ConfigurationError(
                f"detail {template!r} is not a path template: {error}"
            ) from None
        if not names:
            raise ConfigurationError(
                f"detail {template!r} names no field: write e.g. '/items/{{id}}'"
            )
        for name in names:
            if not name.isidentifier():
                raise ConfigurationError(f"detail {template!r}: {{{name}}} is not a field name")
        self.template = template
        self.names = tuple(names)

    def format(self, item_id: str, item: Any) -> str:
        values: dict[str, str] = {}
        for name in self.names:
            if name == "id":
                values[name] = quote(item_id, safe="")
                continue
            value = item.get(name, MISSING) if isinstance(item, dict) else MISSING
            if value is MISSING or value is None:
                raise ValueError(f"item {item_id} has no {name!r} for the detail path")
            values[name] = quote(str(value), safe="")
        return self.template.format(**values)

    def __repr__(self) -> str:
        return f"DetailPath({self.template!r})"


@dataclass
class SyncStats:
    """A run's counts, as stored with it and printed by `conveyor sync --now`."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    total: int = 0
    errors: int = 0

    def count(self, change: Change) -> None:
        setattr(self, change, getattr(self, change) + 1)
        self.total += 1

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def newer_cursor(current: Any, item: Any, path: JsonPath) -> Any:
    """The incremental cursor after seeing `item`: the larger of the two values (ISO dates and
    numbers both order correctly; values of another type than the cursor's are ignored)."""
    value = path.find(item)
    if value is MISSING or value is None or isinstance(value, bool | dict | list):
        return current
    if current is None:
        return value
    if isinstance(value, int | float) and isinstance(current, int | float):
        return max(current, value)
    if isinstance(value, str) and isinstance(current, str):
        return max(current, value)
    return current


def _excerpt(item: Any) -> str:
    return json.dumps(item, default=str)[:80]
