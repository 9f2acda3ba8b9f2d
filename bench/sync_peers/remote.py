"""The paginated collection both subjects pull: `python -m bench.sync_peers.remote PORT ITEMS`.

aiohttp.web in its own process, `GET /items?page=N&per_page=100` answering
`{"data": [...], "hasMore": bool, "total_pages": n}`; items are generated from their index (the
same on every request), so a re-sync sees exactly the same data.
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


def item(i: int) -> dict[str, object]:
    return {
        "id": i,
        "name": f"customer {i}",
        "email": f"customer{i}@example.com",
        "points": (i * 37) % 5000,
        "tier": ("bronze", "silver", "gold")[i % 3],
        "active": i % 7 != 0,
        "updated_at": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "tags": [f"t{i % 5}", f"g{i % 11}"],
    }


def make_app(total: int) -> web.Application:
    async def items(request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        size = int(request.query.get("per_page", "100"))
        start = (page - 1) * size
        data = [item(i) for i in range(start, min(start + size, total))]
        body = {"data": data, "hasMore": start + size < total, "total_pages": -(-total // size)}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get("/items", items)
    return app


if __name__ == "__main__":
    port, total = int(sys.argv[1]), int(sys.argv[2])
    web.run_app(make_app(total), host="127.0.0.1", port=port, access_log=None, print=None)
