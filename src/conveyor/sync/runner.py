"""One sync of one owner: pages through the source, writes what changed, marks deletions.

Per page: fetch it (waiting out a short rate-limit postponement in place, so a scan is not torn
into thousands of postponed attempts), find each item's id and hash, ask the store which are
new or changed, download only those items' details (concurrently, through the connection's
rate limit), and write the page — records, their children, the processing jobs of what changed
and the checkpoint of the next page — in one transaction. Only a scan that reached the last
page of a full listing marks what it did not see as deleted. A page that fails ends the run as
failed with its checkpoint kept: the next sync of the owner resumes it from that page.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import DeliveryError, PagingError, Postpone, RetryableStatus, SyncFailed
from ..events import EventSink, SyncRunFinished
from ..job import NewJob
from ..store.records import PageWrite, RecordStore, RecordWrite, RunMode, SyncRun
from ..types import JobBuilder
from .paging import Page, PageRequest, with_params
from .paths import MISSING
from .records import Change, SyncStats, canonical, change_of, digest, external_id, newer_cursor
from .source import Source

WAIT_IN_PLACE = 30.0  # a longer postponement ends the attempt: the run resumes from its checkpoint
MAX_ERRORS_KEPT = 100
CHANGES = ("created", "updated", "unchanged", "deleted")


class Fetcher(Protocol):
    """What a sync calls its connection with (`RemoteClient`)."""

    async def request(
        self, connection: str, method: str, path: str, *, owner: str | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class Progress:
    pages: int
    items: int
    total: int | None


def relative_target(base_url: str, target: str) -> str:
    """A page URL the remote handed out, made relative to the connection, or PagingError when
    it leaves the connection (its credentials must not follow it elsewhere)."""
    parts = urlsplit(target)
    if not parts.scheme and not parts.netloc:
        return target
    if target.startswith(base_url):
        return target[len(base_url) :] or "/"
    base = urlsplit(base_url)
    if (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and parts.path.startswith(
        base.path
    ):
        return target[len(f"{base.scheme}://{base.netloc}{base.path}") :]
    raise PagingError(f"the next page {target!r} is not under the connection's {base_url!r}")


def process_key(source: str, owner: str, item_id: str, digest: str) -> str:
    key = f"sync:{source}:{owner}:{item_id}:{digest[:24]}"
    if len(key) <= 200:
        return key
    return "sync:" + hashlib.sha256(key.encode()).hexdigest()


class SyncRunner:
    def __init__(
        self,
        source: Source,
        *,
        store: RecordStore,
        client: Fetcher,
        jobs: JobBuilder,
        base_url: str,
        progress: Any = None,
        on_behalf: bool = False,
        events: EventSink | None = None,
    ) -> None:
        self.source = source
        self.events = events  # hears of each run's end (SyncRunFinished: metrics, logs)
        self.store = store
        self.client = client
        self.jobs = jobs
        self.base_url = base_url
        self.progress = progress  # called with a Progress after each page, when given
        self.on_behalf = on_behalf  # call with the owner's own credentials (app.accounts)
        self._owner: str | None = None
        self._window: int | None = None  # the window of a historical initialisation

    async def run(
        self, owner: str, mode: RunMode = "incremental", since: str | None = None
    ) -> SyncRun:
        src = self.source
        self._owner = owner if self.on_behalf else None
        since_epoch = _epoch(since)
        run = await asyncio.to_thread(self.store.open_run, src.name, owner, mode, since_epoch)
        stats = SyncStats(
            **{k: int(v) for k, v in run.stats.items() if k in SyncStats.__dataclass_fields__}
        )
        before = stats.to_json()  # a resumed run's earlier attempts: counted when they ran
        errors: list[dict[str, Any]] = list(run.errors)
        checkpoint = run.checkpoint or {}
        previous = await asyncio.to_thread(self.store.last_cursor, src.name, owner)
        cursor = checkpoint.get("cursor", previous)
        start_cursor = (
            since if run.mode == "since" else (previous if run.mode == "incremental" else None)
        )
        try:
            windows = _windows(src, run.mode, since, time.time())
            if windows is None:
                request = self._start(owner, checkpoint, start_cursor)
                cursor = await self._scan(request, owner, run.id, stats, errors, cursor)
            first = int(checkpoint.get("window", 0))
            for index, window in enumerate(windows or ()):
                if index < first:
                    continue  # done before the run was interrupted
                self._window = index
                resumed = checkpoint if index == first else {}
                request = self._start(owner, resumed, window[0], until=window[1])
                cursor = await self._scan(request, owner, run.id, stats, errors, cursor)
        except (DeliveryError, PagingError, ValueError) as error:
            errors.append(_error_entry(error))
            await asyncio.to_thread(
                self.store.finish_run,
                run.id,
                src.name,
                owner,
                state="failed",
                stats=stats.to_json(),
                errors=errors[-MAX_ERRORS_KEPT:],
                cursor=previous,
                delete_unseen=False,
            )
            self._finished(owner, "failed", before, stats.to_json())
            raise SyncFailed(f"sync of {src.name!r} for {owner!r} failed: {error}") from error
        complete_listing = run.mode == "full" or (
            run.mode == "incremental" and src.incremental is None
        )
        await asyncio.to_thread(
            self.store.finish_run,
            run.id,
            src.name,
            owner,
            state="succeeded",
            stats=stats.to_json(),
            errors=errors[-MAX_ERRORS_KEPT:],
            cursor=cursor,
            delete_unseen=complete_listing,
        )
        final = await asyncio.to_thread(self.store.get_run, run.id)
        assert final is not None
        self._finished(owner, "succeeded", before, final.stats)
        return final

    def _finished(
        self, owner: str, state: str, before: dict[str, int], after: Mapping[str, Any]
    ) -> None:
        if self.events is not None:
            changes = {k: int(after.get(k, 0)) - before.get(k, 0) for k in CHANGES}
            self.events.publish(SyncRunFinished(self.source.name, owner, state, changes))

    async def _scan(
        self,
        request: PageRequest | None,
        owner: str,
        run_id: int,
        stats: SyncStats,
        errors: list[dict[str, Any]],
        cursor: Any,
    ) -> Any:
        """Every page from `request` on, as a pipeline: page N+1 is fetched while page N is
        judged, and page N is written while page N+1 is judged (the writes stay in page order,
        each with its checkpoint). Returns the cursor reached."""
        src = self.source
        pages = 0
        known_pages = await asyncio.to_thread(self.store.page_hashes, src.name, owner)
        ahead: asyncio.Task[tuple[Any, dict[str, str], str]] | None = None
        writing: asyncio.Task[list[int]] | None = None
        try:
            while request is not None:
                if request.number >= src.max_pages:
                    raise PagingError(f"more than max_pages={src.max_pages} pages: stopped")
                body, headers, body_hash = await (ahead or self._fetch_page(request))
                page_items = self._items(body, request)
                page = Page(body, headers, page_items)
                following = src.paginate.follow(request, page)
                ahead = (
                    None if following is None else asyncio.create_task(self._fetch_page(following))
                )
                write, judged = None, True
                if known_pages.get(request.target) == body_hash:
                    write, cursor = self._unchanged_page(page_items, stats, cursor)
                if write is None:
                    write, cursor, judged = await self._page_write(
                        owner, page_items, stats, errors, cursor
                    )
                write.page_key = request.target
                write.body_hash = body_hash if judged else None
                write.checkpoint = {
                    "request": None if following is None else following.to_json(),
                    "cursor": cursor,
                }
                if self._window is not None:
                    write.checkpoint["window"] = self._window
                write.stats = stats.to_json()
                if writing is not None:
                    await writing  # the previous page first: checkpoints only move forward
                writing = asyncio.create_task(
                    asyncio.to_thread(self.store.write_page, run_id, src.name, owner, write)
                )
                pages += 1
                if self.progress is not None:
                    self.progress(Progress(pages, stats.total, src.paginate.total_items(page)))
                request = following
            if writing is not None:
                await writing
        finally:
            if ahead is not None and not ahead.done():
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)
            if writing is not None and not writing.done():
                # A page failed: the write already under way is let finish, so a resumed run
                # starts after it (a write cannot be taken back half done anyway).
                await asyncio.gather(writing, return_exceptions=True)
        return cursor

    # -- pages ------------------------------------------------------------------------------

    def _start(
        self, owner: str, checkpoint: Mapping[str, Any], start_cursor: Any, until: str | None = None
    ) -> PageRequest | None:
        if "request" in checkpoint:
            stored = checkpoint["request"]
            return None if stored is None else PageRequest.from_json(stored)
        src = self.source
        params: dict[str, str] = {}
        if src.owner_param is not None:
            params[src.owner_param] = owner
        if src.incremental is not None and start_cursor is not None:
            params[src.incremental.param] = str(start_cursor)
            if until is not None and src.incremental.until_param is not None:
                params[src.incremental.until_param] = until
        elif src.incremental is not None and src.incremental.initial is not None:
            params[src.incremental.param] = src.incremental.initial
        return src.paginate.first(with_params(src.path, params))

    async def _fetch_page(self, request: PageRequest) -> tuple[Any, dict[str, str], str]:
        """The page's decoded body, its headers, and the hash of its bytes."""
        response = await self._get(relative_target(self.base_url, request.target))
        try:
            body = json.loads(response.body) if response.body else None
        except ValueError as error:
            raise PagingError(f"page {request.number + 1} is not JSON: {error}") from None
        return body, dict(response.headers), hashlib.sha256(response.body).hexdigest()

    async def _get(self, path: str) -> Any:
        """GET through the connection, waiting out short postponements and retryable answers
        in place (`page_retries` times), so one 429 or 503 does not fail a long scan."""
        tries = 0
        while True:
            try:
                return await self.client.request(
                    self.source.connection, "GET", path, owner=self._owner
                )
            except Postpone as postpone:
                if postpone.after > WAIT_IN_PLACE:
                    raise
                await asyncio.sleep(postpone.after)
            except RetryableStatus as error:
                tries += 1
                wait = error.after if error.after is not None else min(2.0**tries, 10.0)
                if tries > self.source.page_retries or wait > WAIT_IN_PLACE:
                    raise
                await asyncio.sleep(wait)

    def _items(self, body: Any, request: PageRequest) -> list[Any]:
        found = body if self.source.items is None else self.source.items.find(body)
        if found is MISSING:
            raise PagingError(f"page {request.number + 1} has no {self.source.items!s} list")
        if not isinstance(found, list):
            raise PagingError(f"page {request.number + 1}: the items are not a list")
        return found

    def _unchanged_page(
        self, items: list[Any], stats: SyncStats, cursor: Any
    ) -> tuple[PageWrite | None, Any]:
        """A page whose bytes are those of the owner's last scan, which judged every item on it:
        its items are unchanged, so only their ids are read (None: an id is missing after all,
        so the page goes item by item)."""
        src = self.source
        try:
            ids = [external_id(item, src.id) for item in items]
        except ValueError:
            return None, cursor
        if src.incremental is not None:
            for item in items:
                cursor = newer_cursor(cursor, item, src.incremental.path)
        stats.unchanged += len(ids)
        stats.total += len(ids)
        return PageWrite(ids=ids), cursor

    async def _page_write(
        self,
        owner: str,
        items: list[Any],
        stats: SyncStats,
        errors: list[dict[str, Any]],
        cursor: Any,
    ) -> tuple[PageWrite, Any, bool]:
        """Item by item: hash each, look the hashes up, write what changed. Also says whether
        every item on the page could be judged (its body hash is kept only then)."""
        src = self.source
        errors_before = stats.errors
        listed, cursor = self._listed(items, stats, errors, cursor)
        known = await asyncio.to_thread(self.store.known_hashes, src.name, owner, list(listed))
        write = PageWrite(ids=list(listed))
        changed: list[tuple[str, Any, str, str, Change]] = []
        for item_id, (item, text, item_hash) in listed.items():
            stored = known.get(item_id)
            change = change_of(
                stored[0] if stored else None, stored[1] if stored else False, item_hash
            )
            if change == "unchanged":
                stats.count("unchanged")
            else:
                changed.append((item_id, item, text, item_hash, change))
        details = await self._details([(item_id, item) for item_id, item, _, _, _ in changed])
        writes: list[RecordWrite] = []
        jobs: list[NewJob] = []
        parents: list[str] = []
        for (item_id, item, text, item_hash, change), detail in zip(changed, details, strict=True):
            if isinstance(detail, BaseException):  # kept as it was: listed, so not gone
                stats.errors += 1
                errors.append(_error_entry(detail, item_id))
                continue
            data = item if src.detail is None else detail
            stored_text = text if src.detail is None else json.dumps(data)
            writes.append(RecordWrite(item_id, stored_text, item_hash))
            for kind, spec in src.children.items():
                for child_id, child in spec.extract(data):
                    child_text = canonical(child)
                    writes.append(
                        RecordWrite(child_id, child_text, digest(child_text), kind, item_id)
                    )
            if src.children and change == "updated":  # a new item has no old children
                parents.append(item_id)
            stats.count(change)
            if src.process is not None:
                payload = {"source": src.name, "owner": owner, "id": item_id, "change": change}
                jobs.append(
                    self.jobs.build_job(
                        src.process,
                        payload,
                        idempotency_key=process_key(src.name, owner, item_id, item_hash),
                    )
                )
        write.writes, write.rewritten_parents, write.jobs = writes, parents, jobs
        return write, cursor, stats.errors == errors_before

    def _listed(
        self, items: list[Any], stats: SyncStats, errors: list[dict[str, Any]], cursor: Any
    ) -> tuple[dict[str, tuple[Any, str, str]], Any]:
        """The page's items by external id, with their hashes; the cursor moved past them."""
        src = self.source
        listed: dict[str, tuple[Any, str, str]] = {}
        for item in items:
            try:
                item_id = external_id(item, src.id)
            except ValueError as error:
                stats.errors += 1
                errors.append(_error_entry(error))
                continue
            text = canonical(item)
            listed[item_id] = (item, text, digest(text))
            if src.incremental is not None:
                cursor = newer_cursor(cursor, item, src.incremental.path)
        return listed, cursor

    async def _details(self, items: list[tuple[str, Any]]) -> list[Any]:
        detail = self.source.detail
        if detail is None:
            return [None] * len(items)
        gate = asyncio.Semaphore(self.source.detail_concurrency)

        async def one(item_id: str, item: Any) -> Any:
            async with gate:
                response = await self._get(detail.format(item_id, item))
                return json.loads(response.body) if response.body else None

        return await asyncio.gather(*(one(i, item) for i, item in items), return_exceptions=True)


def _windows(
    source: Source, mode: str, since: str | None, now: float
) -> list[tuple[str, str]] | None:
    """The (start, end) windows of a historical initialisation, oldest first; None when the
    source pages through its history in one listing."""
    incremental = source.incremental
    if mode != "since" or since is None or incremental is None or incremental.window is None:
        return None
    step = float(incremental.window)
    start = _epoch(since) or 0.0
    windows = []
    while start < now:
        end = min(start + step, now)
        windows.append((_iso(start), _iso(end)))
        start = end
    return windows


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(since: str | None) -> float | None:
    if since is None:
        return None
    from datetime import datetime

    moment = datetime.fromisoformat(since)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _error_entry(error: BaseException, item_id: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": time.time(), "type": type(error).__name__, "message": str(error)}
    if item_id is not None:
        entry["id"] = item_id
    details = getattr(error, "details", None)
    if isinstance(details, dict):
        entry.update({k: v for k, v in details.items() if k in ("status", "url", "response")})
    return entry
