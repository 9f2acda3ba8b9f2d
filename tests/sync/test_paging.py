"""Each paginator driven over a collection served in its style, by a pure function standing in
for the remote (the HTTP behaviour is tested against real servers in the sync runner's tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.errors import ConfigurationError
from conveyor.sync.paging import (
    Cursor,
    LinkHeader,
    NextUrl,
    Offset,
    Page,
    PageNumber,
    PageRequest,
    Paginator,
    PagingError,
    with_params,
)

Serve = Callable[[str], tuple[Any, dict[str, str], list[Any]]]


def _query(target: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}


def page_number_remote(items: list[int], *, flag: bool) -> Serve:
    def serve(target: str) -> tuple[Any, dict[str, str], list[Any]]:
        q = _query(target)
        size = int(q["page_length"])
        page = int(q["page"])
        chunk = items[(page - 1) * size : page * size]
        body: dict[str, Any] = {"data": chunk}
        if flag:
            body["hasMore"] = page * size < len(items)
        return body, {}, chunk

    return serve


def offset_remote(items: list[int]) -> Serve:
    def serve(target: str) -> tuple[Any, dict[str, str], list[Any]]:
        q = _query(target)
        offset, limit = int(q["offset"]), int(q["limit"])
        chunk = items[offset : offset + limit]
        return {"results": chunk, "count": len(items)}, {}, chunk

    return serve


def cursor_remote(items: list[int], size: int) -> Serve:
    def serve(target: str) -> tuple[Any, dict[str, str], list[Any]]:
        start = int(_query(target).get("cursor", "c0")[1:])
        chunk = items[start : start + size]
        following = start + size
        nxt = f"c{following}" if following < len(items) else None
        return {"items": chunk, "meta": {"next": nxt}}, {}, chunk

    return serve


def link_remote(items: list[int], size: int) -> Serve:
    def serve(target: str) -> tuple[Any, dict[str, str], list[Any]]:
        page = int(_query(target).get("page", "1"))
        chunk = items[(page - 1) * size : page * size]
        headers = {"x-total-count": str(len(items))}
        if page * size < len(items):
            headers["link"] = (
                f'<https://remote.test/items?page={page + 1}>; rel="next", '
                f'<https://remote.test/items?page=1>; rel="first"'
            )
        return chunk, headers, chunk

    return serve


def next_url_remote(items: list[int], size: int) -> Serve:
    def serve(target: str) -> tuple[Any, dict[str, str], list[Any]]:
        page = int(_query(target).get("p", "1"))
        chunk = items[(page - 1) * size : page * size]
        nxt = f"/items?p={page + 1}" if page * size < len(items) else None
        return {"items": chunk, "links": {"next": nxt}}, {}, chunk

    return serve


def scan(
    paginator: Paginator, serve: Serve, start: PageRequest | None = None
) -> tuple[list[Any], list[PageRequest]]:
    request: PageRequest | None = start or paginator.first("/items")
    seen: list[Any] = []
    requests: list[PageRequest] = []
    while request is not None:
        requests.append(request)
        body, headers, items = serve(request.target)
        seen.extend(items)
        request = paginator.follow(request, Page(body, headers, items))
        assert len(requests) < 10_000, "the paginator never stopped"
    return seen, requests


STYLES: dict[str, Callable[[list[int]], tuple[Paginator, Serve]]] = {
    "page-number-flag": lambda items: (
        PageNumber(page="page", size="page_length", per_page=7, has_more="hasMore"),
        page_number_remote(items, flag=True),
    ),
    "page-number-short-page": lambda items: (
        PageNumber(page="page", size="page_length", per_page=7),
        page_number_remote(items, flag=False),
    ),
    "offset": lambda items: (Offset(per_page=7, total="count"), offset_remote(items)),
    "cursor": lambda items: (Cursor(next="meta.next"), cursor_remote(items, 7)),
    "link-header": lambda items: (LinkHeader(), link_remote(items, 7)),
    "next-url": lambda items: (NextUrl("links.next"), next_url_remote(items, 7)),
}


@pytest.mark.parametrize("style", STYLES)
@given(size=st.integers(min_value=0, max_value=60))
def test_every_item_once_in_order(style: str, size: int) -> None:
    items = list(range(size))
    paginator, serve = STYLES[style](items)
    seen, requests = scan(paginator, serve)
    assert seen == items
    assert [r.number for r in requests] == list(range(len(requests)))
    assert len(requests) <= size // 7 + 2  # at most one empty page past the end


@pytest.mark.parametrize("style", STYLES)
def test_resuming_from_a_stored_checkpoint_finishes_the_scan(style: str) -> None:
    items = list(range(50))
    paginator, serve = STYLES[style](items)
    _, requests = scan(paginator, serve)
    checkpoint = PageRequest.from_json(requests[3].to_json())
    rest, _ = scan(paginator, serve, start=checkpoint)
    assert rest == items[21:]


def test_totals_for_progress() -> None:
    body = {"count": 120, "pages": 3}
    assert Offset(total="count").total_items(Page(body, {}, [])) == 120
    assert LinkHeader().total_items(Page([], {"x-total-count": "42"}, [])) == 42
    assert LinkHeader().total_items(Page([], {}, [])) is None
    assert PageNumber().total_items(Page(body, {}, [])) is None


def test_page_number_stops_at_the_page_count() -> None:
    paginator = PageNumber(per_page=2, total_pages="pages")
    first = paginator.first("/w")
    full = Page({"pages": 2}, {}, [1, 2])
    second = paginator.follow(first, full)
    assert second is not None and _query(second.target)["page"] == "2"
    assert paginator.follow(second, full) is None


def test_a_missing_has_more_flag_fails_the_scan() -> None:
    paginator = PageNumber(has_more="hasMore")
    with pytest.raises(PagingError, match="hasMore"):
        paginator.follow(paginator.first("/w"), Page({"data": [1]}, {}, [1]))


def test_has_more_given_as_text() -> None:
    paginator = PageNumber(has_more="more", per_page=1)
    first = paginator.first("/w")
    assert paginator.follow(first, Page({"more": "false"}, {}, [1])) is None
    assert paginator.follow(first, Page({"more": "true"}, {}, [1])) is not None


def test_a_repeating_cursor_or_self_link_fails_instead_of_looping() -> None:
    cursor = Cursor(next="next")
    request = PageRequest("/c", {"cursor": "abc"}, 4)
    with pytest.raises(PagingError, match="cursor"):
        cursor.follow(request, Page({"next": "abc"}, {}, [1]))
    link = LinkHeader()
    with pytest.raises(PagingError, match="itself"):
        link.follow(PageRequest("/l?page=2"), Page([], {"link": '</l?page=2>; rel="next"'}, [1]))
    with pytest.raises(PagingError, match="not a URL"):
        NextUrl("next").follow(PageRequest("/n"), Page({"next": 5}, {}, [1]))


def test_with_params_keeps_the_paths_own_query() -> None:
    assert with_params("/workflows?status=active&page=9", {"page": "2"}) == (
        "/workflows?status=active&page=2"
    )
    assert with_params("/w", {}) == "/w"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PageNumber(per_page=0), "per_page"),
        (lambda: PageNumber(page=""), "page"),
        (lambda: PageNumber(start=-1), "start"),
        (lambda: PageNumber(has_more="a..b"), "has_more"),
        (lambda: Offset(per_page=True), "per_page"),
        (lambda: Cursor(next=""), "next"),
        (lambda: LinkHeader(rel=" "), "rel"),
        (lambda: NextUrl("x["), "NextUrl"),
    ],
)
def test_bad_settings_are_refused_when_declared(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make()
