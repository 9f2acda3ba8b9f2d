"""A source: a remote collection declared once (`app.source(...)`), synced per owner.

Every setting is checked when the source is declared (a JSON path that cannot parse, a
paginator of the wrong kind, a detail template with no field), so a typo never waits for the
first scan to show.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..durations import parse_duration
from ..errors import ConfigurationError
from ..options import MAX_QUEUE_LENGTH
from .paging import PAGINATORS, PageNumber, Paginator
from .paths import JsonPath, optional_path
from .records import Children, DetailPath, children_spec

SYNC_QUEUE = "sync"


@dataclass(frozen=True)
class Incremental:
    """Fetch only what changed since the last completed run: the largest `field` (a JSON path
    in each item, e.g. an ISO `updated_at`) is kept as the cursor and sent as `param`. An
    incremental listing is partial by design, so only a full scan (`--full`) marks deletions.

    `window` ("30d", or seconds) with `until_param`: a historical initialisation (`since=`)
    pages through the past one window at a time (`param` = the window's start, `until_param`
    its end, ISO 8601 UTC), oldest first, so a long history is many short listings; the run's
    checkpoint names the window, and a resumed run goes on from it."""

    field: str
    param: str
    initial: str | None = None
    until_param: str | None = None
    window: float | str | None = None
    _field: JsonPath = dataclasses.field(
        init=False, repr=False, compare=False, default=JsonPath("$", ())
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_field", JsonPath.parse(self.field, what="incremental field"))
        for what, name in (("param", self.param), ("until_param", self.until_param)):
            if name is not None and (not isinstance(name, str) or not name.strip()):
                raise ConfigurationError(
                    f"incremental {what} must be a query parameter name, not {name!r}"
                )
        if self.window is not None:
            try:
                seconds = (
                    parse_duration(self.window)
                    if isinstance(self.window, str)
                    else float(self.window)
                )
            except (TypeError, ValueError) as error:
                raise ConfigurationError(f"incremental window: {error}") from None
            if seconds <= 0 or self.until_param is None:
                raise ConfigurationError(
                    "incremental window needs a duration above 0 and until_param (the window's end)"
                )
            object.__setattr__(self, "window", seconds)

    @property
    def path(self) -> JsonPath:
        return self._field


@dataclass(frozen=True)
class Source:
    name: str
    connection: str
    path: str
    id: JsonPath
    items: JsonPath | None = None
    paginate: Paginator = field(default_factory=PageNumber)
    detail: DetailPath | None = None
    children: Mapping[str, Children] = field(default_factory=dict)
    incremental: Incremental | None = None
    owner_param: str | None = None
    process: str | None = None
    queue: str = SYNC_QUEUE
    detail_concurrency: int = 8
    max_pages: int = 1_000_000
    max_attempts: int = 3
    retry_after: float = 60.0
    page_retries: int = 3
    owners: Sequence[str] | Callable[[], Iterable[str]] = ()
    owner_credentials: bool | None = None
    # Before the first page, the connection's check request for the owner (with its
    # owner_param): a 401/403 ends the sync before anything is fetched.
    check_owner: bool = False


def make_source(
    name: str,
    *,
    connection: str,
    path: str,
    items: str | None = None,
    id: str = "id",
    paginate: Any = None,
    detail: str | None = None,
    children: Mapping[str, str | Children] | None = None,
    incremental: Incremental | None = None,
    owner_param: str | None = None,
    process: str | None = None,
    queue: str = SYNC_QUEUE,
    detail_concurrency: int = 8,
    max_pages: int = 1_000_000,
    max_attempts: int = 3,
    retry_after: float = 60.0,
    page_retries: int = 3,
    owners: Sequence[str] | Callable[[], Iterable[str]] = (),
    owner_credentials: bool | None = None,
    check_owner: bool = False,
) -> Source:
    """The keyword form `app.source(...)` and the config file use."""
    _check_names(name, connection, path, queue, owner_param, process)
    if paginate is None:
        paginate = PageNumber()
    if not isinstance(paginate, PAGINATORS):
        raise ConfigurationError(
            f"source {name!r}: paginate must be PageNumber, Offset, Cursor, LinkHeader or NextUrl"
            f" (from conveyor), not {type(paginate).__name__}"
        )
    if incremental is not None and not isinstance(incremental, Incremental):
        raise ConfigurationError(
            f"source {name!r}: incremental must be Incremental(field=, param=)"
        )
    _check_numbers(name, detail_concurrency, max_pages, max_attempts, retry_after)
    if owner_credentials not in (None, True, False):
        raise ConfigurationError(f"source {name!r}: owner_credentials must be True, False or None")
    if not isinstance(check_owner, bool):
        raise ConfigurationError(f"source {name!r}: check_owner must be True or False")
    if type(page_retries) is not int or page_retries < 0:
        raise ConfigurationError(f"source {name!r}: page_retries must be a whole number >= 0")
    return Source(
        name=name,
        connection=connection,
        path=path,
        id=JsonPath.parse(id, what=f"source {name!r} id"),
        items=optional_path(items, what=f"source {name!r} items"),
        paginate=paginate,
        detail=None if detail is None else DetailPath(detail),
        children=children_spec(children),
        incremental=incremental,
        owner_param=owner_param,
        process=process,
        queue=queue,
        detail_concurrency=detail_concurrency,
        max_pages=max_pages,
        max_attempts=max_attempts,
        retry_after=float(retry_after),
        page_retries=page_retries,
        owners=_owners(name, owners),
        owner_credentials=owner_credentials,
        check_owner=check_owner,
    )


def _check_names(
    name: str, connection: str, path: str, queue: str, owner_param: str | None, process: str | None
) -> None:
    if not isinstance(name, str) or not name.strip() or ":" in name:
        raise ConfigurationError(f"a source needs a name without ':', not {name!r}")
    if not isinstance(connection, str) or not connection.strip():
        raise ConfigurationError(f"source {name!r}: connection must name a declared connection")
    if not isinstance(path, str) or not path.strip():
        raise ConfigurationError(
            f"source {name!r}: path must be the collection's path, e.g. '/items'"
        )
    for what, value in (("owner_param", owner_param), ("process", process)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigurationError(f"source {name!r}: {what} must be a name, not {value!r}")
    if not isinstance(queue, str) or not queue or len(queue) > MAX_QUEUE_LENGTH:
        raise ConfigurationError(f"source {name!r}: queue must be a queue name, not {queue!r}")


def _check_numbers(
    name: str, detail_concurrency: int, max_pages: int, max_attempts: int, retry_after: float
) -> None:
    numbers = (
        ("detail_concurrency", detail_concurrency),
        ("max_pages", max_pages),
        ("max_attempts", max_attempts),
    )
    for what, number in numbers:
        if type(number) is not int or number < 1:
            raise ConfigurationError(f"source {name!r}: {what} must be a whole number >= 1")
    if isinstance(retry_after, bool) or not isinstance(retry_after, int | float) or retry_after < 0:
        raise ConfigurationError(f"source {name!r}: retry_after must be seconds >= 0")


def _owners(
    name: str, owners: Sequence[str] | Callable[[], Iterable[str]]
) -> Sequence[str] | Callable[[], Iterable[str]]:
    """`owners=`: the owners `--all` syncs (besides every owner synced before), as a list or a
    callable that reads them from the application (its customers table) when asked."""
    if callable(owners):
        return owners
    if isinstance(owners, str) or not all(isinstance(o, str) and o for o in owners):
        raise ConfigurationError(f"source {name!r}: owners must be a list of names or a callable")
    return tuple(owners)
