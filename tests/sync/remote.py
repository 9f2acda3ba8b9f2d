"""A real paginated API for the sync tests: aiohttp.web on 127.0.0.1 in a background thread.

It serves `/workflows` per customer (`?customer=`) in one of the pagination styles the sync
supports, each workflow's export at `/workflows/{id}/export`, and answers scripted failures
(a 500 or a 429 with Retry-After) for requests that match a substring, once each.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from yarl import URL


@dataclass
class Hit:
    path_qs: str
    at: float


@dataclass
class Failure:
    match: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"error": "scripted"}'


class Remote:
    def __init__(self, style: str = "page") -> None:
        self.style = style
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.exports: dict[str, dict[str, Any]] = {}
        self.hits: list[Hit] = []
        self.failures: list[Failure] = []
        self.next_base: str | None = None  # where next links point (default: this server)
        # When set, every request needs `X-API-Key: keys[customer]` (the check request /me too).
        self.keys: dict[str, str] | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    # -- the data ---------------------------------------------------------------------------

    def put(
        self,
        owner: str,
        item_id: str,
        *,
        name: str = "",
        tasks: list[dict[str, Any]] | None = None,
        updated: str | None = None,
    ) -> None:
        """Add or change a workflow of `owner`, with the tasks its export lists; `updated` is
        its `updated_at` (then `?updated_since=` lists only the later ones)."""
        item: dict[str, Any] = {"id": item_id, "name": name or item_id}
        if updated is not None:
            item["updated_at"] = updated
        with self._lock:
            self.collections.setdefault(owner, {})[item_id] = item
            self.exports[item_id] = {"id": item_id, "name": name or item_id, "tasks": tasks or []}

    def remove(self, owner: str, item_id: str) -> None:
        with self._lock:
            del self.collections[owner][item_id]

    def fail(self, match: str, status: int, **headers: str) -> None:
        with self._lock:
            self.failures.append(Failure(match, status, headers))

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [h.path_qs for h in self.hits if h.path_qs.startswith(prefix)]

    # -- serving ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path_qs = request.path_qs
        with self._lock:
            self.hits.append(Hit(path_qs, time.monotonic()))
            for failure in self.failures:
                if failure.match in path_qs:
                    self.failures.remove(failure)
                    return web.Response(
                        status=failure.status,
                        text=failure.body,
                        headers=failure.headers,
                        content_type="application/json",
                    )
        if self.keys is not None:
            key = request.headers.get("X-API-Key", "")
            owner = next((o for o, k in self.keys.items() if k == key), None)
            if owner is None:
                return web.json_response({"error": "bad api key"}, status=401)
            if request.path == "/me":
                return web.json_response({"customer": owner})
        if request.path.endswith("/export"):
            item_id = request.match_info["id"]
            with self._lock:
                export = self.exports.get(item_id)
            if export is None:
                return web.json_response({"error": "not found"}, status=404)
            return web.json_response(export)
        owner = request.query.get("customer", "")
        with self._lock:
            items = list(self.collections.get(owner, {}).values())
        since = request.query.get("updated_since")
        if since is not None:
            items = [item for item in items if item.get("updated_at", "") > since]
        before = request.query.get("updated_before")
        if before is not None:
            items = [item for item in items if item.get("updated_at", "") < before]
        return self._page(request, items)

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        q = request.query
        if self.style == "page":
            page, size = int(q.get("page", "1")), int(q.get("page_length", "50"))
            chunk = items[(page - 1) * size : page * size]
            return web.json_response({"data": chunk, "hasMore": page * size < len(items)})
        if self.style == "offset":
            offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
            return web.json_response(
                {"results": items[offset : offset + limit], "count": len(items)}
            )
        if self.style == "cursor":
            start, size = int(q.get("after", "0")), 3
            chunk = items[start : start + size]
            following = str(start + size) if start + size < len(items) else None
            return web.json_response({"items": chunk, "meta": {"next": following}})
        page, size = int(q.get("page", "1")), 3
        chunk = items[(page - 1) * size : page * size]
        more = page * size < len(items)
        nxt = request.url.update_query({"page": str(page + 1)})
        if self.next_base is not None:
            nxt = URL(self.next_base).join(nxt.relative())
        if self.style == "link":
            headers = {"X-Total-Count": str(len(items))}
            if more:
                headers["Link"] = f'<{nxt}>; rel="next"'
            return web.Response(
                text=json.dumps(chunk), headers=headers, content_type="application/json"
            )
        return web.json_response({"items": chunk, "next": str(nxt) if more else None})

    def start(self) -> Remote:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/workflows", self._handle)
            app.router.add_get("/workflows/{id}/export", self._handle)
            app.router.add_get("/me", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, self._sock)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="sync-remote", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
