"""Connections: named external systems, and the client that calls them politely.

A call goes through, in order: the connection's circuit breaker (open: the job is postponed, its
attempt not counted), its rate limit (no token: postponed likewise), auth headers, the idempotency
key, the Standard Webhooks signature, the request with its timeouts, one token refresh and resend
on a 401 for OAuth2, and the classification of the response (retry, or dead at once).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import structlog

from ..breaker import Breaker, BreakerRecord, admit, on_failure, on_success, take_probe
from ..errors import ConfigurationError, DeliveryError, PermanentStatus, Postpone
from ..ratelimit import RateLimit
from .auth import Auth
from .batching import Batch, Batcher
from .classify import classify
from .http import HttpClient, HttpResponse, Timeouts
from .secrets import Secret, secret
from .signing import signature_headers

if TYPE_CHECKING:
    from ..app import Conveyor

BREAKER_CACHE_SECONDS = 1.0
log = structlog.get_logger("conveyor")


@dataclass
class Connection:
    """A named external system. `check` is the connection tester's request ("GET /me");
    `identity` is the dotted path, in its JSON answer, of the account it authenticated as."""

    name: str
    base_url: str
    auth: Auth | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    headers: dict[str, str] = field(default_factory=dict)
    signing_secret: Secret | None = None
    rate_limit: RateLimit | None = None
    breaker: Breaker | None = field(default_factory=Breaker)
    max_retry_after: float = 3600.0
    check: str = "GET /"
    identity: str | None = None
    batch: Batch | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"connection {self.name!r}: base_url must be an http(s) URL, not {self.base_url!r}"
            )
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        method, _, path = self.check.partition(" ")
        if not path or method.upper() not in ("GET", "HEAD", "POST"):
            raise ConfigurationError(f"connection {self.name!r}: check must look like 'GET /me'")

    def url(self, path: str) -> str:
        check_relative(path)
        return urljoin(self.base_url, path.strip().lstrip("/"))

    @property
    def bucket(self) -> str:
        return f"connection:{self.name}"


def check_relative(path: str) -> None:
    """Refuse anything that would leave the connection's host (and take its credentials along)."""
    parts = urlsplit(path.strip())
    if parts.scheme or parts.netloc or path.strip().startswith("//"):
        raise ConfigurationError(
            f"give a path relative to the connection's base_url, not {parts.scheme or ''}"
            f"{'://' if parts.scheme else ''}{parts.netloc}…"
        )


def make_connection(
    name: str,
    base_url: str,
    *,
    auth: Auth | None = None,
    timeouts: Timeouts | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    signing_secret: str | Secret | None = None,
    rate_limit: str | float | RateLimit | None = None,
    burst: int | None = None,
    breaker: Breaker | bool | None = True,
    max_retry_after: float = 3600.0,
    check: str = "GET /",
    identity: str | None = None,
    batch: Batch | None = None,
) -> Connection:
    """The keyword form `app.connection(...)` and the config file use. A number as `rate_limit`
    is requests per second."""
    check_auth(name, auth)
    if timeouts is None:
        timeouts = Timeouts(connect=connect_timeout or 5.0, read=read_timeout or 10.0)
    return Connection(
        name=name,
        base_url=base_url,
        auth=auth,
        timeouts=timeouts,
        headers=dict(headers or {}),
        signing_secret=secret(signing_secret),
        rate_limit=RateLimit.parse(rate_limit, burst) if rate_limit is not None else None,
        breaker=Breaker() if breaker is True else (breaker or None),
        max_retry_after=max_retry_after,
        check=check,
        identity=identity,
        batch=batch,
    )


def check_auth(name: str, auth: object) -> None:
    """An auth given as a plain string would be silently unusable: say which object to use
    (without echoing the string: it is likely a credential)."""
    if auth is None or isinstance(auth, Auth):
        return
    if isinstance(auth, str):
        scheme = auth.strip().partition(" ")[0].lower()
        hint = {
            "bearer": 'Bearer("env:TOKEN_VARIABLE")',
            "basic": 'Basic("user", "env:PASSWORD_VARIABLE")',
        }.get(scheme, 'Bearer("env:TOKEN_VARIABLE"), Basic(...), ApiKey(...)')
        raise ConfigurationError(
            f"connection {name!r}: auth must be an auth object, not a string: use auth={hint} "
            "(from conveyor; the token itself or an env:NAME reference)"
        )
    raise ConfigurationError(
        f"connection {name!r}: auth must be Bearer, Basic, ApiKey or OAuth2ClientCredentials "
        f"(from conveyor), not {type(auth).__name__}"
    )


class RemoteClient:
    """The live side of the app's connections for one event loop: one pooled HTTP client, and
    a short cache of breaker states (other workers' changes are seen within a second)."""

    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self.http = HttpClient()
        self._breakers: dict[str, tuple[float, BreakerRecord | None]] = {}
        self._batchers: dict[tuple[str, str, str], Batcher] = {}

    async def close(self) -> None:
        await self.http.close()

    async def request(
        self,
        connection: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> HttpResponse:
        """Call a connection. Raises Postpone (breaker open, no token), RemoteUnavailable,
        RetryableStatus or PermanentStatus."""
        conn = self.app.get_connection(connection)
        await self._admit(conn)
        if body is None and json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
        try:
            response = await self._send(conn, method.upper(), path, body, headers, idempotency_key)
            if response.status == 401 and conn.auth is not None and conn.auth.refreshable:
                stale = _bearer(response.extra.get("authorization"))
                response = await self._send(
                    conn, method.upper(), path, body, headers, idempotency_key, stale=stale
                )
        except DeliveryError as error:
            await self._record(conn, error)
            raise
        verdict = classify(response, time.time(), conn.max_retry_after)
        await self._record(conn, verdict)
        if verdict is not None:
            raise verdict
        return response

    async def deliver(
        self,
        connection: str,
        method: str,
        path: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> HttpResponse:
        """One delivery: alone, or in a batch when the connection accepts batches."""
        conn = self.app.get_connection(connection)
        if conn.batch is None or headers:
            return await self.request(
                connection,
                method,
                path,
                json_body=body,
                headers=headers,
                idempotency_key=idempotency_key,
            )
        slot = (connection, method.upper(), path)
        batcher = self._batchers.get(slot)
        if batcher is None:
            batcher = self._batchers[slot] = Batcher(self, connection, slot[1], path, conn.batch)
        return await batcher.submit(body, idempotency_key)

    async def _send(
        self,
        conn: Connection,
        method: str,
        path: str,
        body: bytes | None,
        extra: Mapping[str, str] | None,
        idempotency_key: str | None,
        *,
        stale: str | None = "",
    ) -> HttpResponse:
        headers: dict[str, str] = {"Accept": "application/json", **conn.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if conn.auth is not None:
            headers.update(await conn.auth.headers(self.http, conn.timeouts, stale=stale or None))
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if conn.signing_secret is not None:
            message_id = idempotency_key or f"msg_{time.time_ns()}"
            headers.update(
                signature_headers(conn.signing_secret, message_id, int(time.time()), body or b"")
            )
        headers.update(extra or {})
        response = await self.http.send(
            method, conn.url(path), headers=headers, body=body, timeouts=conn.timeouts
        )
        response.extra["authorization"] = headers.get("Authorization")
        return response

    # -- breaker and rate limit -------------------------------------------------------------

    async def _admit(self, conn: Connection) -> None:
        store = self.app.store
        probe = False
        if conn.breaker is not None:
            wait = admit(await self._breaker_state(conn.name), time.time())
            if wait > 0:
                raise Postpone(wait, f"circuit breaker of {conn.name!r} is open")
            probe = wait < 0  # cooled off: this call may be the one probe
        if conn.rate_limit is not None:  # before the probe slot, so a postponed call keeps none
            wait = await asyncio.to_thread(store.take_token, conn.bucket, conn.rate_limit)
            if wait > 0:
                raise Postpone(wait, f"rate limit of {conn.name!r}")
        if probe and conn.breaker is not None:
            settings = conn.breaker
            _, taken = await asyncio.to_thread(
                store.change_breaker,
                conn.name,
                lambda current, now: take_probe(current, now, settings),
            )
            if taken is None:
                raise Postpone(1.0, f"circuit breaker of {conn.name!r} is probing")
            self._breakers[conn.name] = (time.monotonic(), taken)

    async def _breaker_state(self, name: str) -> BreakerRecord | None:
        cached = self._breakers.get(name)
        if cached is not None and time.monotonic() - cached[0] < BREAKER_CACHE_SECONDS:
            return cached[1]
        record = await asyncio.to_thread(self.app.store.breaker, name)
        self._breakers[name] = (time.monotonic(), record)
        return record

    async def _record(self, conn: Connection, error: DeliveryError | None) -> None:
        settings = conn.breaker
        if settings is None:
            return
        healthy = error is None or isinstance(error, PermanentStatus)  # a 4xx: the remote is up
        if healthy:
            cached = self._breakers.get(conn.name)
            if cached is not None and (
                cached[1] is None or on_success(cached[1], 0, settings) is None
            ):
                return  # known closed and clean: the hot path writes nothing
            before, after = await asyncio.to_thread(
                self.app.store.change_breaker,
                conn.name,
                lambda current, now: on_success(current, now, settings),
            )
        else:
            reason = str(error)
            before, after = await asyncio.to_thread(
                self.app.store.change_breaker,
                conn.name,
                lambda current, now: on_failure(current, conn.name, now, settings, reason),
            )
        if after is not None:
            self._breakers[conn.name] = (time.monotonic(), after)
            self.app.breaker_changed(conn.name, before, after)


def _bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header[len("Bearer ") :]
    return None
