"""A stand-in of the Leat (Piggy) loyalty API (000): a real aiohttp server on 127.0.0.1.

Every request carries a personal access token (`Authorization: Bearer ...`) and the shop's id
(`X-Shop-Uuid`): a wrong token is 401, a shop id that is not one of the token's company is 403.
`GET /company` answers the company (the connection tester's request). Contacts are created with
`POST /contacts` (422 with field errors for a bad e-mail) and changed with `PATCH
/contacts/{ref}`; credits and order items are booked on `/contacts/{ref}/credits` and
`/contacts/{ref}/orders` (404 for a contact that does not exist yet: why contact-create leads).
`GET /rewards` lists the rewards, `POST /contacts/{ref}/redeem` spends credits (422 when short).

More than `limit` requests within a second for one shop (token and shop id): 429 with
`Retry-After: 1`. `set_outage("503")` answers 503 to everything; `set_outage("refuse")` closes
the listening socket (and drops requests on kept-alive connections). `broken` holds contact
refs the remote fails with a 500 (a remote bug about one contact). `requests` records every
request (method, path, shop, status, when), for the tests.

    python -m examples.loyalty.remote --port 8000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    token: str
    shops: tuple[str, ...]


# Two companies: a Dutch shop with two stores (nl, be) sharing one Leat account, and another.
COMPANIES = (
    Company("c-1001", "Demo Shop BV", "pat-demo-shop", ("shop-nl-0001", "shop-be-0002")),
    Company("c-2002", "Other Retail Ltd", "pat-other-retail", ("shop-uk-0003",)),
)
REWARDS = [
    {"id": 1, "title": "Free coffee", "required_credits": 50},
    {"id": 2, "title": "10% off", "required_credits": 120},
    {"id": 3, "title": "Tote bag", "required_credits": 300},
]


class LoyaltyApi:
    def __init__(self, limit: int = 5, companies: tuple[Company, ...] = COMPANIES) -> None:
        self.limit = limit  # requests per second per shop; more is a 429
        self.companies = {c.token: c for c in companies}
        # shop id -> contact ref -> contact ({"ref", "email", "name", "credits"})
        self.contacts: dict[str, dict[str, dict[str, Any]]] = {}
        self.bookings: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> booking answer
        self.requests: list[dict[str, Any]] = []  # method, path, shop, status, at
        self.outage: Literal["503", "refuse"] | None = None
        self.broken: set[str] = set()
        self.throttle = 0  # answer the next N requests 429 whatever the rate
        self.url = ""
        self.port = 0
        self._seen: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- what the tests read ------------------------------------------------------------------

    def calls(self, *, status: int | None = None) -> list[str]:
        """ "METHOD path" of every request (with one status only, if given)."""
        return [
            f"{r['method']} {r['path']}"
            for r in self.requests
            if status is None or r["status"] == status
        ]

    def contact(self, shop: str, ref: int | str) -> dict[str, Any] | None:
        return self.contacts.get(shop, {}).get(str(ref))

    # -- the HTTP side ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/company", self.company)
        app.router.add_post("/contacts", self.create_contact)
        app.router.add_patch("/contacts/{ref}", self.update_contact)
        app.router.add_post("/contacts/{ref}/credits", self.book_credits)
        app.router.add_post("/contacts/{ref}/orders", self.book_order)
        app.router.add_get("/rewards", self.rewards)
        app.router.add_post("/contacts/{ref}/redeem", self.redeem)
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Outage, rate limit and auth, before any endpoint; every answer recorded."""
        if self.outage == "refuse":  # a request on a connection kept alive from before
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("refusing connections")
        response = await self._answer(request, handler)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "shop": request.headers.get("X-Shop-Uuid"),
                "status": response.status,
                "at": time.monotonic(),
            }
        )
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.outage == "503":
            return _error(503, "Leat is in maintenance")
        token, shop = _token(request), _shop(request)
        if self.throttle > 0 or self._too_fast(f"{token}/{shop}"):
            self.throttle = max(0, self.throttle - 1)
            return _error(429, "too many requests", {"Retry-After": "1"})
        company = self.companies.get(token)
        if company is None:
            return _error(401, "invalid personal access token")
        if shop not in company.shops:
            return _error(403, f"shop {shop!r} is not a shop of {company.name}")
        ref = request.match_info.get("ref")
        if ref is not None and ref in self.broken:
            return _error(500, "internal server error")
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as error:  # 404 and 400 raised by the endpoints
            return web.json_response({"message": error.text}, status=error.status)
        return response

    def _too_fast(self, caller: str) -> bool:
        now = time.monotonic()
        seen = self._seen.setdefault(caller, deque())
        while seen and seen[0] <= now - 1.0:
            seen.popleft()
        if len(seen) >= self.limit:
            return True
        seen.append(now)
        return False

    async def company(self, request: web.Request) -> web.Response:
        company = self.companies[_token(request)]
        return web.json_response({"id": company.id, "name": company.name})

    async def create_contact(self, request: web.Request) -> web.Response:
        body = await _json(request)
        ref, email = str(body.get("ref") or ""), str(body.get("email") or "")
        if ref in self.broken:
            return _error(500, "internal server error")
        errors = {}
        if not ref:
            errors["ref"] = ["is required"]
        if not EMAIL.match(email):
            errors["email"] = ["is not a valid e-mail address"]
        if errors:
            return web.json_response({"message": "invalid contact", "errors": errors}, status=422)
        shop = self.contacts.setdefault(_shop(request), {})
        if ref in shop:  # creating twice (a retry after a lost answer) is the same contact
            return web.json_response(shop[ref], status=200)
        shop[ref] = {"ref": ref, "email": email, "name": body.get("name"), "credits": 0}
        return web.json_response(shop[ref], status=201)

    async def update_contact(self, request: web.Request) -> web.Response:
        contact = self._contact(request)
        body = await _json(request)
        if "email" in body and not EMAIL.match(str(body["email"])):
            return _invalid("email", "is not a valid e-mail address")
        contact.update({k: v for k, v in body.items() if k in ("email", "name")})
        return web.json_response(contact)

    async def book_credits(self, request: web.Request) -> web.Response:
        contact = self._contact(request)
        body = await _json(request)
        credits = body.get("credits")
        if not isinstance(credits, int) or credits == 0:
            return _invalid("credits", "must be a non-zero integer")
        return self._book(request, contact, credits, body)

    async def book_order(self, request: web.Request) -> web.Response:
        contact = self._contact(request)
        body = await _json(request)
        items = body.get("items")
        if not isinstance(items, list) or not items:
            return _invalid("items", "must be a non-empty list")
        try:  # one credit per whole euro spent
            total = sum(float(i["price"]) * int(i["quantity"]) for i in items)
        except (KeyError, TypeError, ValueError):
            return _invalid("items", "each item needs a price and a quantity")
        return self._book(request, contact, int(total), body)

    def _book(
        self, request: web.Request, contact: dict[str, Any], credits: int, body: Any
    ) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self.bookings:  # the same booking again: not credited twice
            return web.json_response(self.bookings[key])
        contact["credits"] += credits
        answer = {"credits": credits, "balance": contact["credits"], "reference": body.get("ref")}
        if key:
            self.bookings[key] = answer
        return web.json_response(answer, status=201)

    async def rewards(self, request: web.Request) -> web.Response:
        return web.json_response({"data": REWARDS})

    async def redeem(self, request: web.Request) -> web.Response:
        contact = self._contact(request)
        body = await _json(request)
        reward = next((r for r in REWARDS if r["id"] == body.get("reward_id")), None)
        if reward is None:
            return _invalid("reward_id", "unknown reward")
        if contact["credits"] < reward["required_credits"]:
            return _invalid(
                "reward_id", f"needs {reward['required_credits']} credits, has {contact['credits']}"
            )
        contact["credits"] -= reward["required_credits"]
        return web.json_response(
            {"reward": reward["title"], "balance": contact["credits"]}, status=201
        )

    def _contact(self, request: web.Request) -> dict[str, Any]:
        contact = self.contact(_shop(request), request.match_info["ref"])
        if contact is None:
            raise web.HTTPNotFound(text="contact not found")
        return contact

    # -- in-process start/stop, for the demo and the tests ------------------------------------

    def start(self, port: int = 0) -> str:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._runner = web.AppRunner(self.app())
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(self._listen(port))
            self.url = f"http://127.0.0.1:{self.port}"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name="loyalty-api")
        self._thread.start()
        ready.wait(10)
        return self.url

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await self._site.start()
        sockets = self._site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    def set_outage(self, outage: Literal["503", "refuse"] | None) -> None:
        """Switch the outage; "refuse" stops listening, and the end of it listens again."""
        was, self.outage = self.outage, outage
        if outage == "refuse" and was != "refuse":
            self._call(self._stop_listening())
        elif was == "refuse" and outage != "refuse":
            self._call(self._listen(self.port))

    async def _stop_listening(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def _call(self, coroutine: Any) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def stop(self) -> None:
        if self._loop and self._runner:
            self._call(self._runner.cleanup())
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be an object")
    return body


def _token(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


def _shop(request: web.Request) -> str:
    return request.headers.get("X-Shop-Uuid", "")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"message": message}, status=status, headers=headers)


def _invalid(field: str, problem: str) -> web.Response:
    return web.json_response(
        {"message": "validation failed", "errors": {field: [problem]}}, status=422
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.loyalty.remote")
    parser.add_argument("--port", type=int, default=8000)
    web.run_app(LoyaltyApi().app(), host="127.0.0.1", port=parser.parse_args().port)
