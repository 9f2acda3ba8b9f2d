"""A stand-in of the external products API (003): a real aiohttp server on 127.0.0.1.

`POST /products` takes one product or a JSON array of them (a bundle). It checks the bearer
token (401), the Standard Webhooks HMAC signature (401), validates every product (422 naming
the field), and dedupes on `Idempotency-Key` (a replay gets the first answer, nothing stored
twice). `outage = True` answers 500 to everything; `throttle = N` answers the next N requests
429 with `Retry-After: 1`; `delay` slows every POST. `GET /` is the connection check.

    python -m examples.shop_products.remote --port 8003
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

from aiohttp import web

from ..stand_in import StandIn

TOKEN = "shop-token"
SIGNING_SECRET = "shop-signing-secret"


class ProductsApi(StandIn):
    name = "products-api"

    def __init__(self, token: str = TOKEN, secret: str = SIGNING_SECRET) -> None:
        self.token = token
        self.secret = secret.encode()
        self.products: dict[int, dict[str, Any]] = {}
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []  # every request: key, status, size
        self.outage = False
        self.throttle = 0
        self.delay = 0.0  # seconds each POST takes (a slow remote, for the shutdown test)
        self.received = 0  # POSTs that reached the server, answered or not yet

    # -- the HTTP side ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.check)
        app.router.add_post("/products", self.create)
        return app

    async def check(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "bad token"}, status=401)
        return web.json_response({"account": "Demo Shop products API"})

    async def create(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        key = request.headers.get("Idempotency-Key", "")
        status, answer = self._answer(request, body, key)
        self.requests.append({"key": key, "status": status, "size": _size(body)})
        return web.json_response(answer, status=status, headers=_retry_after(status))

    def _answer(self, request: web.Request, body: bytes, key: str) -> tuple[int, dict[str, Any]]:
        if self.outage:
            return 500, {"error": "outage"}
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"error": "slow down"}
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "bad token"}
        if not self._signed(request, body):
            return 401, {"error": "bad signature"}
        if not key:
            return 400, {"error": "Idempotency-Key header missing"}
        if key in self.answers:
            return self.answers[key]
        items = json.loads(body)
        items = items if isinstance(items, list) else [items]
        for item in items:
            problem = _invalid(item)
            if problem:
                return 422, {"error": problem}
        for item in items:
            self.products[item["id"]] = item
        answer = (201, {"created": [item["id"] for item in items]})
        self.answers[key] = answer
        return answer

    def _signed(self, request: web.Request, body: bytes) -> bool:
        message_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        given = request.headers.get("webhook-signature", "")
        signed = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self.secret, signed, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        return any(hmac.compare_digest(part, expected) for part in given.split())


def _invalid(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "a product must be an object"
    if item.get("version") != 1:
        return "version: unsupported schema version"
    if not isinstance(item.get("id"), int):
        return "id: must be an integer"
    if not isinstance(item.get("price"), int | float):
        return "price: must be a number"
    if not isinstance(item.get("stock"), int) or item["stock"] < 0:
        return "stock: must be a non-negative integer"
    if not str(item.get("name") or "").strip():
        return "name: must not be empty"
    return None


def _size(body: bytes) -> int:
    try:
        items = json.loads(body)
    except ValueError:
        return 0
    return len(items) if isinstance(items, list) else 1


def _retry_after(status: int) -> dict[str, str]:
    return {"Retry-After": "1"} if status == 429 else {}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.shop_products.remote")
    parser.add_argument("--port", type=int, default=8003)
    web.run_app(ProductsApi().app(), host="127.0.0.1", port=parser.parse_args().port)
