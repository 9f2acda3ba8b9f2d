"""Paginators: pure rules for "which page comes next", one per style a remote may use.

A scan asks `first(path)` for its first request, fetches it, and hands the answer back to
`follow(request, page)` until that says None. Each request is plain data (`PageRequest`), so the
next one can be stored as a run's checkpoint and a crashed run resumes from the last page it
completed. No I/O and no clock here: the sync runner does the fetching.

The styles, and the settings named after what dlt's and Nango's users write:
`PageNumber` (`?page=2&page_length=50`, stopping on a has-more flag, a short page or a page
count), `Offset` (`?offset=100&limit=100`), `Cursor` (a cursor from the body sent back as a
parameter), `LinkHeader` (RFC 8288 `Link: <…>; rel="next"`, progress from `X-Total-Count`) and
`NextUrl` (the next page's URL in the body).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigurationError, PagingError
from .links import parse_link_header
from .paths import MISSING, JsonPath, optional_path


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page to fetch: `path` relative to the connection (its own query string kept), or an
    absolute URL a remote handed out (the client keeps it on the connection's host); `params`
    are set on its query string. `number` counts the pages of the scan, from 0."""

    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    number: int = 0

    @property
    def target(self) -> str:
        return with_params(self.path, self.params)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "params": dict(self.params), "number": self.number}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PageRequest:
        params = data.get("params") or {}
        return cls(
            str(data["path"]), {str(k): str(v) for k, v in params.items()}, int(data["number"])
        )


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched page as a paginator sees it: the decoded body, the response headers (names in
    lower case) and the items the source found in it."""

    body: Any
    headers: Mapping[str, str]
    items: Sequence[Any]


class Paginator(Protocol):
    def first(self, path: str) -> PageRequest: ...
    def follow(self, request: PageRequest, page: Page) -> PageRequest | None: ...
    def total_items(self, page: Page) -> int | None:
        """Items in the whole collection, when the remote says (for progress only)."""
        ...


def with_params(path: str, params: Mapping[str, str]) -> str:
    """`path` with `params` set on its query string (replacing a parameter of the same name and
    keeping the others in their order)."""
    if not params:
        return path
    parts = urlsplit(path)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _param(value: str | None, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigurationError(f"{what} must be a query parameter name, not {value!r}")
    return value


def _positive(value: int | None, what: str) -> int | None:
    if value is not None and (type(value) is not int or value < 1):
        raise ConfigurationError(f"{what} must be a whole number >= 1, not {value!r}")
    return value


def _count(page: Page, path: JsonPath | None) -> int | None:
    if path is None:
        return None
    value = path.find(page.body)
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _flag(page: Page, path: JsonPath, request: PageRequest) -> bool:
    value = path.find(page.body)
    if value is MISSING:
        raise PagingError(
            f"page {request.number + 1} has no {path.text!r} to say whether more follow"
        )
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


@dataclass(frozen=True)
class PageNumber:
    """`?page=N&size=per_page`, N from `start`. It stops when `has_more` (a JSON path) is false,
    else when a page is empty or shorter than `per_page`, or past `total_pages` (a JSON path)."""

    page: str = "page"
    size: str | None = "per_page"
    per_page: int | None = 50
    has_more: str | None = None
    total_pages: str | None = None
    total: str | None = None
    start: int = 1

    _has_more: JsonPath | None = field(init=False, repr=False, compare=False, default=None)
    _pages: JsonPath | None = field(init=False, repr=False, compare=False, default=None)
    _total: JsonPath | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _param(self.page, "PageNumber page")
        _param(self.size, "PageNumber size")
        _positive(self.per_page, "PageNumber per_page")
        if type(self.start) is not int or self.start < 0:
            raise ConfigurationError(f"PageNumber start must be 0 or more, not {self.start!r}")
        if self.size is not None and self.per_page is None:
            raise ConfigurationError("PageNumber: give per_page with size (or size=None)")
        object.__setattr__(self, "_has_more", optional_path(self.has_more, what="has_more"))
        object.__setattr__(self, "_pages", optional_path(self.total_pages, what="total_pages"))
        object.__setattr__(self, "_total", optional_path(self.total, what="total"))

    def first(self, path: str) -> PageRequest:
        return PageRequest(path, self._params(self.start), 0)

    def follow(self, request: PageRequest, page: Page) -> PageRequest | None:
        has_more = self._has_more
        if has_more is not None:
            if not _flag(page, has_more, request):
                return None
        elif not page.items or (self.per_page is not None and len(page.items) < self.per_page):
            return None
        number = self.start + request.number + 1
        pages = _count(page, self._pages)
        last = pages - 1 + self.start if pages is not None else None
        if last is not None and number > last:
            return None
        return PageRequest(request.path, self._params(number), request.number + 1)

    def total_items(self, page: Page) -> int | None:
        return _count(page, self._total)

    def _params(self, number: int) -> dict[str, str]:
        params = {self.page: str(number)}
        if self.size is not None and self.per_page is not None:
            params[self.size] = str(self.per_page)
        return params


@dataclass(frozen=True)
class Offset:
    """`?offset=N&limit=per_page`. It stops on an empty or short page, at `total` (a JSON path of
    the item count), or when `has_more` (a JSON path) is false."""

    offset: str = "offset"
    limit: str | None = "limit"
    per_page: int = 100
    total: str | None = None
    has_more: str | None = None
    start: int = 0

    _total: JsonPath | None = field(init=False, repr=False, compare=False, default=None)
    _has_more: JsonPath | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _param(self.offset, "Offset offset")
        _param(self.limit, "Offset limit")
        _positive(self.per_page, "Offset per_page")
        object.__setattr__(self, "_total", optional_path(self.total, what="total"))
        object.__setattr__(self, "_has_more", optional_path(self.has_more, what="has_more"))

    def first(self, path: str) -> PageRequest:
        return PageRequest(path, self._params(self.start), 0)

    def follow(self, request: PageRequest, page: Page) -> PageRequest | None:
        has_more = self._has_more
        if has_more is not None and not _flag(page, has_more, request):
            return None
        if not page.items or len(page.items) < self.per_page:
            return None
        offset = int(request.params.get(self.offset, self.start)) + len(page.items)
        total = self.total_items(page)
        if total is not None and offset >= total:
            return None
        return PageRequest(request.path, self._params(offset), request.number + 1)

    def total_items(self, page: Page) -> int | None:
        return _count(page, self._total)

    def _params(self, offset: int) -> dict[str, str]:
        params = {self.offset: str(offset)}
        if self.limit is not None:
            params[self.limit] = str(self.per_page)
        return params


@dataclass(frozen=True)
class Cursor:
    """The body's `next` (a JSON path) sent back as the `param` query parameter; it stops when
    that is missing, null or empty, or when `has_more` (a JSON path) is false."""

    next: str = "next_cursor"
    param: str = "cursor"
    size: str | None = None
    per_page: int | None = None
    has_more: str | None = None
    total: str | None = None

    _next: JsonPath = field(init=False, repr=False, compare=False, default=JsonPath("$", ()))
    _has_more: JsonPath | None = field(init=False, repr=False, compare=False, default=None)
    _total: JsonPath | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _param(self.param, "Cursor param")
        _param(self.size, "Cursor size")
        _positive(self.per_page, "Cursor per_page")
        object.__setattr__(self, "_next", JsonPath.parse(self.next, what="Cursor next"))
        object.__setattr__(self, "_has_more", optional_path(self.has_more, what="has_more"))
        object.__setattr__(self, "_total", optional_path(self.total, what="total"))

    def first(self, path: str) -> PageRequest:
        return PageRequest(path, self._params(None), 0)

    def follow(self, request: PageRequest, page: Page) -> PageRequest | None:
        has_more = self._has_more
        if has_more is not None and not _flag(page, has_more, request):
            return None
        value = self._next.find(page.body)
        if value is MISSING or value is None or value == "":
            return None
        cursor = str(value)
        if cursor == request.params.get(self.param):
            raise PagingError(f"page {request.number + 1} gave back the cursor it was asked with")
        return PageRequest(request.path, self._params(cursor), request.number + 1)

    def total_items(self, page: Page) -> int | None:
        return _count(page, self._total)

    def _params(self, cursor: str | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if cursor is not None:
            params[self.param] = cursor
        if self.size is not None and self.per_page is not None:
            params[self.size] = str(self.per_page)
        return params


@dataclass(frozen=True)
class LinkHeader:
    """Follows the `Link` header's `rel` link (RFC 8288; GitHub, Shopify, Zendesk style); the
    item count for progress comes from `total_header` when the remote sends one."""

    rel: str = "next"
    total_header: str = "X-Total-Count"

    def __post_init__(self) -> None:
        if not isinstance(self.rel, str) or not self.rel.strip():
            raise ConfigurationError(f"LinkHeader rel must be a relation name, not {self.rel!r}")

    def first(self, path: str) -> PageRequest:
        return PageRequest(path, {}, 0)

    def follow(self, request: PageRequest, page: Page) -> PageRequest | None:
        target = parse_link_header(page.headers.get("link")).get(self.rel.lower())
        if not target:
            return None
        if target == request.target:
            raise PagingError(f"page {request.number + 1} links to itself as {self.rel!r}")
        return PageRequest(target, {}, request.number + 1)

    def total_items(self, page: Page) -> int | None:
        value = page.headers.get(self.total_header.lower(), "").strip()
        return int(value) if value.isdigit() else None


@dataclass(frozen=True)
class NextUrl:
    """The next page's URL (absolute, or relative to the connection) at `path` in the body; it
    stops when that is missing, null or empty."""

    path: str = "next"
    total: str | None = None

    _next: JsonPath = field(init=False, repr=False, compare=False, default=JsonPath("$", ()))
    _total: JsonPath | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_next", JsonPath.parse(self.path, what="NextUrl path"))
        object.__setattr__(self, "_total", optional_path(self.total, what="total"))

    def first(self, path: str) -> PageRequest:
        return PageRequest(path, {}, 0)

    def follow(self, request: PageRequest, page: Page) -> PageRequest | None:
        value = self._next.find(page.body)
        if value is MISSING or value is None or value == "":
            return None
        if not isinstance(value, str):
            raise PagingError(
                f"page {request.number + 1}: {self.path!r} is not a URL: {value!r:.60}"
            )
        if value == request.target:
            raise PagingError(f"page {request.number + 1} names itself as the next page")
        return PageRequest(value, {}, request.number + 1)

    def total_items(self, page: Page) -> int | None:
        return _count(page, self._total)


PAGINATORS = (PageNumber, Offset, Cursor, LinkHeader, NextUrl)
