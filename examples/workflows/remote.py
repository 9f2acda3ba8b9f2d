"""A stand-in of the Zuora workflow API (004): a real aiohttp server on 127.0.0.1.

- `POST /oauth/token`: OAuth 2 client credentials (HTTP basic or form), a bearer token that
  lives `token_lifetime` seconds; `tokens` counts the tokens issued.
- `GET /me?customer=X`: the credential check; 403 for a customer whose access is revoked.
- `GET /workflows?customer=X&page=N&page_length=M`: `{"data": [...], "hasMore": bool}`;
  `page_length` over 50 is a 400 naming the parameter, as the real API validates it.
- `GET /workflows/{id}/export`: the workflow's full JSON, with its `tasks`.
- `outage = True` answers 500 to everything; `throttle = N` answers the next N requests 429 with
  `Retry-After: 1`. `hits` counts the requests per path.

    python -m examples.workflows.remote --port 8004
"""

from __future__ import annotations

import argparse
import base64
import secrets
import threading
import time
from collections import Counter
from typing import Any

from aiohttp import web

from ..stand_in import StandIn

CLIENT_ID = "conveyor-demo"
CLIENT_SECRET = "zuora-demo-secret"
MAX_PAGE_LENGTH = 50


class ZuoraApi(StandIn):
    name = "zuora-api"

    def __init__(self, token_lifetime: float = 3600.0) -> None:
        self.token_lifetime = token_lifetime
        self.workflows: dict[str, dict[str, dict[str, Any]]] = {}  # customer -> id -> export
        self.revoked: set[str] = set()
        self.tokens = 0
        self.hits: Counter[str] = Counter()
        self.outage = False
        self.throttle = 0
        self._issued: dict[str, float] = {}  # token -> expiry
        self._lock = threading.Lock()

    # -- the data ---------------------------------------------------------------------------

    def put(self, customer: str, workflow_id: str, name: str, tasks: list[str]) -> None:
        """Add or change a workflow of `customer`; its export lists `tasks` (by name)."""
        export = {
            "id": workflow_id,
            "name": name,
            "state": "Active",
            "tasks": [
                {"id": f"{workflow_id}-t{n}", "name": task, "action_type": task.split()[0]}
                for n, task in enumerate(tasks, 1)
            ],
        }
        with self._lock:
            self.workflows.setdefault(customer, {})[workflow_id] = export

    def remove(self, customer: str, workflow_id: str) -> None:
        with self._lock:
            del self.workflows[customer][workflow_id]

    # -- the HTTP side ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._switches])
        app.router.add_post("/oauth/token", self.token)
        app.router.add_get("/me", self.me)
        app.router.add_get("/workflows", self.listing)
        app.router.add_get("/workflows/{id}/export", self.export)
        return app

    @web.middleware
    async def _switches(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.hits[request.path] += 1
        if self.outage:
            return web.json_response({"reasons": [{"message": "internal error"}]}, status=500)
        if self.throttle > 0:
            self.throttle -= 1
            return web.json_response(
                {"reasons": [{"message": "too many requests"}]},
                status=429,
                headers={"Retry-After": "1"},
            )
        if request.path != "/oauth/token" and not self._authorised(request):
            return web.json_response({"reasons": [{"message": "bad or expired token"}]}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.tokens += 1
            self._issued[token] = time.time() + self.token_lifetime
        answer = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        return web.json_response(answer)

    async def me(self, request: web.Request) -> web.Response:
        customer = request.query.get("customer", "")
        if customer not in self.workflows or customer in self.revoked:
            return web.json_response(
                {"reasons": [{"message": f"no access to tenant {customer!r}"}]}, status=403
            )
        return web.json_response({"tenant": customer})

    async def listing(self, request: web.Request) -> web.Response:
        customer = request.query.get("customer", "")
        try:
            page = int(request.query.get("page", "1"))
            length = int(request.query.get("page_length", "20"))
        except ValueError:
            return _invalid("page and page_length must be integers")
        if page < 1 or not 1 <= length <= MAX_PAGE_LENGTH:
            return _invalid(f"page_length must be between 1 and {MAX_PAGE_LENGTH}")
        with self._lock:
            items = sorted(self.workflows.get(customer, {}).values(), key=lambda w: w["id"])
        chunk = items[(page - 1) * length : page * length]
        data = [{"id": w["id"], "name": w["name"], "state": w["state"]} for w in chunk]
        return web.json_response({"data": data, "hasMore": page * length < len(items)})

    async def export(self, request: web.Request) -> web.Response:
        workflow_id = request.match_info["id"]
        with self._lock:
            for workflows in self.workflows.values():
                if workflow_id in workflows:
                    return web.json_response(workflows[workflow_id])
        return web.json_response({"reasons": [{"message": "workflow not found"}]}, status=404)

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        expiry = self._issued.get(given.removeprefix("Bearer "))
        return given.startswith("Bearer ") and expiry is not None and time.time() < expiry


def _invalid(message: str) -> web.Response:
    return web.json_response({"reasons": [{"code": 400, "message": message}]}, status=400)


def seeded() -> ZuoraApi:
    """Three customers' workflows, as the demo and `python -m ...remote` serve them."""
    api = ZuoraApi()
    for customer, count in (("acme", 60), ("globex", 3), ("initech", 2)):
        for n in range(1, count + 1):
            api.put(customer, f"{customer}-wf{n:03d}", f"Workflow {n}", ["Callout notify", "Query"])
    return api


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.workflows.remote")
    parser.add_argument("--port", type=int, default=8004)
    web.run_app(seeded().app(), host="127.0.0.1", port=parser.parse_args().port)
