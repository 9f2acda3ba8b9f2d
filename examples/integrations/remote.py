"""Stand-ins for the two remotes of write-up 001: a Monzo-like bank (OAuth, paginated data) and
an Apple Health-like sender of signed webhooks. Both real HTTP on 127.0.0.1.

The bank (`BankApi`, aiohttp in a thread):

- `GET /oauth/authorize` is the user's consent: the user logged in at the bank (`bank.user`)
  is sent back to `redirect_uri` with a one-time `code` and the `state` (a PKCE S256 challenge
  is required). `POST /oauth/token` takes `authorization_code` (the code once, its redirect_uri,
  the verifier) and `refresh_token` grants; the client authenticates with HTTP basic. Access
  tokens live `expires_in` seconds; every refresh rotates the refresh token (the old one is then
  `invalid_grant`).
- `GET /me`, and the user's `/accounts`, `/pots`, `/balances`, `/transactions` (`since=` and
  `before=` ISO 8601 bounds on `created`), each paginated with `limit` (1..100) and an opaque
  `cursor`, answering `{"<collection>": [...], "next_cursor": ... | null}`. A bad `limit`,
  cursor or date is a 400 naming it; a missing or expired token a 401.
- `throttle = N`: the next N API requests get 429 with `Retry-After: 1`. `outage = True`: every
  API request gets 500 (the OAuth endpoints stay up). Counters: `requests` (path, status,
  query), `refreshes`, `code_exchanges`; `live_refresh_tokens(user)`.

    python -m examples.integrations.remote --port 8001
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from standardwebhooks.webhooks import Webhook as Signer

from ..stand_in import StandIn

CLIENT_ID = "spark-app"
CLIENT_SECRET = "spark-client-secret"
HEALTH_SECRET = "whsec_" + base64.b64encode(b"spark-health-webhook-secret-0001").decode()
COLLECTIONS = ("accounts", "pots", "balances", "transactions")


@dataclass
class Customer:
    """One bank customer's data."""

    name: str
    accounts: list[dict[str, Any]] = field(default_factory=list)
    pots: list[dict[str, Any]] = field(default_factory=list)
    balances: list[dict[str, Any]] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)


class BankApi(StandIn):
    name = "bank-api"

    def __init__(self, *, expires_in: int = 3600, seed: int = 1) -> None:
        self.expires_in = expires_in
        self.customers: dict[str, Customer] = {}
        self.user = ""  # who is logged in at the bank when a consent page is opened
        self.throttle = 0
        self.outage = False
        self.requests: list[tuple[str, int, dict[str, str]]] = []  # path, status, query
        self.refreshes = 0
        self.code_exchanges = 0
        self._codes: dict[str, tuple[str, str, str]] = {}  # code: (user, challenge, redirect)
        self._access: dict[str, tuple[str, datetime]] = {}
        self._refresh: dict[str, str] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    # -- the bank's data ------------------------------------------------------------------

    def add_customer(self, user: str, *, history_days: int = 150, transactions: int = 40) -> None:
        """A customer with a current and a savings account, two pots, and `transactions`
        spread over the last `history_days` days."""
        with self._lock:
            customer = self.customers[user] = Customer(user.title())
            for kind in ("uk_retail", "uk_savings"):
                account = {"id": f"acc_{user}_{kind[3:]}", "type": kind, "owner": user}
                customer.accounts.append(account)
                customer.balances.append({"id": account["id"], "balance": 0, "currency": "GBP"})
            for n, name in enumerate(("Holiday", "Rainy day")):
                customer.pots.append({"id": f"pot_{user}_{n}", "name": name, "balance": 1000 * n})
            now = datetime.now(UTC).replace(microsecond=0)
            for n in range(transactions):
                ago = timedelta(days=history_days * (transactions - n) / (transactions + 1))
                self._transaction(customer, now - ago)

    def add_transactions(self, user: str, count: int) -> list[str]:
        """New spending now (what a check for updates should find)."""
        with self._lock:
            customer = self.customers[user]
            now = datetime.now(UTC).replace(microsecond=0)
            return [self._transaction(customer, now)["id"] for _ in range(count)]

    def grant(self, user: str) -> str:
        """An access token for `user`, as if they had just authorised (for direct calls)."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._access[token] = (user, datetime.now(UTC) + timedelta(seconds=self.expires_in))
        return token

    def live_refresh_tokens(self, user: str) -> int:
        """How many refresh tokens of the user the bank would still honour (rotation: one)."""
        with self._lock:
            return sum(1 for owner in self._refresh.values() if owner == user)

    def _transaction(self, customer: Customer, when: datetime) -> dict[str, Any]:
        account = customer.accounts[0]
        amount = -self._random.randint(100, 9000)
        item = {
            "id": f"tx_{account['owner']}_{len(customer.transactions):04d}",
            "account_id": account["id"],
            "amount": amount,
            "currency": "GBP",
            "category": self._random.choice(("groceries", "transport", "eating_out", "bills")),
            "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        customer.transactions.append(item)
        customer.balances[0]["balance"] += amount
        return item

    # -- the HTTP side --------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oauth/authorize", self.authorize)
        app.router.add_post("/oauth/token", self.token)
        app.router.add_get("/me", self.me)
        for name in COLLECTIONS:
            app.router.add_get(f"/{name}", self.collection)
        return app

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        problem = None
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            problem = "unknown client_id or response_type is not code"
        elif q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            problem = "a PKCE S256 code_challenge is required"
        elif not q.get("redirect_uri") or not q.get("state"):
            problem = "redirect_uri and state are required"
        elif self.user not in self.customers:
            problem = f"nobody is logged in at the bank ({self.user!r})"
        if problem:
            return web.json_response({"error": "invalid_request", "message": problem}, status=400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (self.user, q["code_challenge"], q["redirect_uri"])
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        raise web.HTTPFound(target)

    async def token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        form = await request.post()
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                self.code_exchanges += 1
                user = self._redeem(str(form.get("code")), form)
            elif grant == "refresh_token":
                self.refreshes += 1
                user = self._refresh.pop(str(form.get("refresh_token")), None)
            else:
                return web.json_response({"error": "unsupported_grant_type"}, status=400)
            if user is None:
                return web.json_response({"error": "invalid_grant"}, status=400)
            access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            expiry = datetime.now(UTC) + timedelta(seconds=self.expires_in)
            self._access[access] = (user, expiry)
            self._refresh[refresh] = user
        answer = {"access_token": access, "refresh_token": refresh, "token_type": "Bearer"}
        return web.json_response({**answer, "expires_in": self.expires_in, "user_id": user})

    def _redeem(self, code: str, form: Any) -> str | None:
        found = self._codes.pop(code, None)  # a code works once
        if found is None:
            return None
        user, challenge, redirect = found
        verifier = str(form.get("code_verifier", ""))
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
            return None
        return user if form.get("redirect_uri") == redirect else None

    async def me(self, request: web.Request) -> web.Response:
        return self._answer(
            request, lambda customer, user: {"user_id": user, "name": customer.name}
        )

    async def collection(self, request: web.Request) -> web.Response:
        name = request.path.strip("/")
        return self._answer(request, lambda customer, _: self._page(request, name, customer))

    def _answer(self, request: web.Request, build: Any) -> web.Response:
        status, body, headers = self._serve(request, build)
        with self._lock:
            self.requests.append((request.path, status, dict(request.query)))
        return web.json_response(body, status=status, headers=headers)

    def _serve(self, request: web.Request, build: Any) -> tuple[int, Any, dict[str, str]]:
        if self.outage:
            return 500, {"error": "internal_error", "message": "the bank is down"}, {}
        with self._lock:
            if self.throttle > 0:
                self.throttle -= 1
                return 429, {"error": "too_many_requests"}, {"Retry-After": "1"}
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            user, expiry = self._access.get(token, ("", datetime.min.replace(tzinfo=UTC)))
            if not user or expiry <= datetime.now(UTC):
                return 401, {"error": "invalid_token", "message": "expired or unknown"}, {}
            try:
                return 200, build(self.customers[user], user), {}
            except ValueError as error:
                return 400, {"error": "bad_request", "message": str(error)}, {}

    def _page(self, request: web.Request, name: str, customer: Customer) -> dict[str, Any]:
        q = request.query
        limit = _number(q.get("limit", "50"), "limit")
        if not 1 <= limit <= 100:
            raise ValueError(f"limit must be 1..100, not {limit}")
        start = _number(q.get("cursor", "0"), "cursor")
        if start < 0:
            raise ValueError(f"unknown cursor {start}")
        items: list[dict[str, Any]] = getattr(customer, name)
        if name == "transactions":
            since = _moment(q.get("since"), "since") or datetime.min.replace(tzinfo=UTC)
            before = _moment(q.get("before"), "before") or datetime.max.replace(tzinfo=UTC)
            items = [t for t in items if since <= _moment(t["created"], "created") < before]  # type: ignore[operator]
        more = start + limit < len(items)
        return {
            name: items[start : start + limit],
            "next_cursor": str(start + limit) if more else None,
        }


def _number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None


def _moment(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 time, not {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class HealthSender:
    """The health app's side: POSTs signed (Standard Webhooks) events of workouts and metrics
    to the application's `/hooks/health`, as the real sender would."""

    def __init__(self, secret: str = HEALTH_SECRET) -> None:
        self.signer = Signer(secret)
        self.sent = 0

    def send(
        self,
        url: str,
        items: list[dict[str, Any]],
        *,
        event_id: str | None = None,
        forge: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"data": items})
        event_id = event_id or f"msg_{secrets.token_hex(8)}"
        now = datetime.now(UTC)
        signature = self.signer.sign(event_id, now, body)
        if forge:
            signature = "v1," + base64.b64encode(b"\0" * 32).decode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        self.sent += 1
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m examples.integrations.remote")
    parser.add_argument("--port", type=int, default=8001)
    bank = BankApi()
    for name in ("alice", "bob"):
        bank.add_customer(name)
    bank.user = "alice"
    web.run_app(bank.app(), host="127.0.0.1", port=parser.parse_args().port)
