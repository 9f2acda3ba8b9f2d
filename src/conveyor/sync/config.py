"""Sources declared in `conveyor.toml`, one table per source, beside the connections:

    [sources.workflows]
    connection = "zuora"
    path = "/workflows"
    items = "data"
    paginate = { type = "page_number", page = "page", size = "page_length", per_page = 50,
                 has_more = "hasMore" }
    detail = "/workflows/{id}/export"
    children = { tasks = { items = "tasks", id = "id" } }   # or { tasks = "tasks" }
    owner_param = "customer"
    process = "import_workflow"

Every key is the keyword of the same name of `app.source(...)`; `paginate` takes the arguments
of `PageNumber`, `Offset`, `Cursor`, `LinkHeader` or `NextUrl` with a `type`, `incremental`
those of `Incremental`. The whole `[sources]` table is checked before anything is declared,
every mistake named at once with the file and the key, as for connections and webhooks; a name
already declared in Python is refused.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any, Protocol

from ..connections.tables import Table, apply_section
from ..errors import ConfigurationError
from .paging import Cursor, LinkHeader, NextUrl, Offset, PageNumber
from .records import Children
from .registry import SourceRegistry
from .source import Incremental, Source

TEXT_KEYS = ("connection", "path", "items", "id", "detail", "owner_param", "process", "queue")
NUMBER_KEYS = ("detail_concurrency", "max_pages", "max_attempts", "page_retries")
SOURCE_KEYS = (
    *TEXT_KEYS,
    *NUMBER_KEYS,
    "paginate",
    "children",
    "incremental",
    "retry_after",
    "owners",
    "owner_credentials",
    "check_owner",
)
PAGINATORS: dict[str, Any] = {
    "page_number": PageNumber,
    "offset": Offset,
    "cursor": Cursor,
    "link_header": LinkHeader,
    "next_url": NextUrl,
}


class HasSources(Protocol):
    @property
    def sources(self) -> SourceRegistry: ...


def apply_sources(app: HasSources, path: str | os.PathLike[str]) -> list[Source]:
    """Declare a config file's sources on `app`: all of them, or none on any mistake."""
    return apply_section(path, "sources", "source", _source, app.sources, app.sources.declare)


def _source(table: Table) -> dict[str, Any] | None:
    before = len(table.mistakes)
    guard = table.guard
    found: dict[str, Any] = {
        key: guard(partial(table.string, key, plain=True, required=key in ("connection", "path")))
        for key in TEXT_KEYS
    }
    for key in NUMBER_KEYS:
        found[key] = guard(partial(table.integer, key, minimum=0 if key == "page_retries" else 1))
    found["retry_after"] = guard(lambda: table.seconds("retry_after", positive=False))
    found["owner_credentials"] = guard(lambda: table.boolean("owner_credentials"))
    found["check_owner"] = guard(lambda: table.boolean("check_owner"))
    paginate = guard(lambda: table.table("paginate", expected="a table with a type"))
    found["paginate"] = None if paginate is None else guard(lambda: _paginator(paginate))
    children = guard(lambda: table.table("children", expected="a table of kind = JSON path"))
    found["children"] = None if children is None else guard(lambda: _children(children))
    incremental = guard(lambda: table.table("incremental", expected="{ field = ..., param = ... }"))
    found["incremental"] = None if incremental is None else guard(lambda: _incremental(incremental))
    found["owners"] = guard(lambda: _owners(table))
    table.finish("source settings", SOURCE_KEYS)
    if len(table.mistakes) > before:
        return None
    return {key: value for key, value in found.items() if value is not None}


def _paginator(table: Table) -> Any:
    kind = table.string("type", required=True, plain=True)
    if kind not in PAGINATORS:
        raise table.error("type", f"unknown type {kind!r} (choose from {', '.join(PAGINATORS)})")
    options: dict[str, Any] = {}
    for key in list(table.data):
        if key == "type":
            continue
        value = table.take(key)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise table.error(key, "expected a string (a parameter or a JSON path) or an integer")
        options[key] = value
    return table.convert(None, lambda: _build(PAGINATORS[str(kind)], options))


def _build(kind: Any, options: dict[str, Any]) -> Any:
    try:
        return kind(**options)
    except TypeError as error:  # an argument the paginator does not take
        raise ConfigurationError(f"{kind.__name__}: {error}") from None


def _children(table: Table) -> dict[str, Children]:
    found: dict[str, Children] = {}
    for kind in list(table.data):
        value = table.data[kind]
        if isinstance(value, str):
            path = table.string(kind, plain=True)
            found[kind] = table.convert(kind, partial(Children, str(path)))
            continue
        child = table.table(kind, expected="a JSON path, or { items = ..., id = ... }")
        assert child is not None
        items = child.string("items", required=True, plain=True)
        child_id = child.string("id", plain=True)
        child.finish("children settings", ("items", "id"))
        found[kind] = child.convert(None, partial(Children, str(items), child_id or "id"))
    return found


def _incremental(table: Table) -> Incremental:
    field = table.string("field", required=True, plain=True)
    param = table.string("param", required=True, plain=True)
    initial = table.string("initial", plain=True)
    until_param = table.string("until_param", plain=True)
    window = table.seconds("window", positive=True)
    table.finish("incremental settings", ("field", "param", "initial", "until_param", "window"))
    made: Incremental = table.convert(
        None, lambda: Incremental(str(field), str(param), initial, until_param, window)
    )
    return made


def _owners(table: Table) -> tuple[str, ...] | None:
    value = table.take("owners")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(o, str) and o for o in value):
        raise table.error("owners", "expected an array of owner names")
    return tuple(value)
