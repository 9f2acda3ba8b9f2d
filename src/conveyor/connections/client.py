"""The client that calls connections politely, and the accessor a running task reaches it by.

A call goes through, in order: the connection's circuit breaker (open: the job is postponed, its
attempt not counted), its hold and rate limit (slowed, paused or no token: postponed likewise),
auth headers, the idempotency key, the Standard Webhooks signature, the request with its timeouts,
one token refresh and resend on a 401 for OAuth2, and the classification of the response (retry,
dead at once, or, for a 429/503 or a 410, a hold on the whole connection: `conveyor.politeness`).
The connection's secrets are masked in the response excerpt and in any error it raises.

`RemoteClient` takes what it uses: the connection lookup, the limits slice of the store, an
event sink for breaker changes, and the owners' credentials for calls made with `owner=`
(`conveyor.types`; they replace the connection's own auth). There is one per event loop
(`ConnectionRegistry.client()`); a task's attempt reaches it with `current_remote()`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from .. import politeness
from ..breaker import BreakerRecord, admit, on_failure, on_success, take_probe
from ..errors import (
    ConfigurationError,
    DeliveryError,
    PermanentStatus,
    Postpone,
    RetryableStatus,
)
from ..events import (
    ConnectionAuthFailed,
    ConnectionPaused,
    ConnectionSlowed,
    HttpRequestFinished,
    RateLimitWaited,
    breaker_event,
)
from ..job import Job
from ..politeness import Hold
from ..ratelimit import RateLimit
from ..types import ConnectionLookup, EventSink, LimitStore, OwnerCredentials
from .bundling import Bundler
from .classify import classify
from .connection import Connection
from .http import HttpClient, HttpResponse
from .masking import SecretMask, connection_secret_values
from .signing import signature_headers

BREAKER_CACHE_SECONDS = 1.0
AUTH_FAILED_STATUSES = (401, 403)


class RemoteClient:
    """The live side of the app's connections for one event loop: one pooled HTTP client, and
    a short cache of breaker states (other workers' changes are seen within a second)."""

    def __init__(
        self,
        connections: ConnectionLookup,
        limits: LimitStore,
        events: EventSink,
        owners: OwnerCredentials | None = None,
    ) -> None:
        self.connections = connections
        self.limits = limits
        self.events = events
        self.owners = owners  # per-owner credentials (app.accounts), for `owner=` calls
        self.http = HttpClient()
        self._breakers: dict[str, tuple[float, BreakerRecord | None]] = {}
        self._bundlers: dict[tuple[str, str, str], Bundler] = {}
        # The holds this process has met (set, or been refused by): a success clears a spent one.
        self._holds: dict[str, Hold] = {}
        self._masks: dict[tuple[str, ...], SecretMask] = {}

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
        owner: str | None = None,
    ) -> HttpResponse:
        """Call a connection; with `owner`, with that owner's stored credentials instead of
        the connection's own. Raises Postpone (breaker open, no token, the connection slowed or
        paused, this answer a 429/503/410 that holds it, or the owner to re-authorise),
        RemoteUnavailable, RetryableStatus or PermanentStatus, with the secrets masked."""
        conn = self.connections.get_connection(connection)
        await self._admit(conn)
        if body is None and json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
        mask = self.mask(conn)
        call = (method.upper(), path, body, headers, idempotency_key, owner)
        try:
            response = await self._send(conn, *call)
            if response.status == 401 and conn.auth is not None and conn.auth.refreshable:
                stale = _bearer(response.extra.get("authorization"))
                response = await self._send(conn, *call, stale=stale)
        except DeliveryError as error:
            mask.error(error)
            await self._record(conn, error)
            raise
        # An OAuth2 token fetched for this request, or the owner's credentials, are masked too.
        mask = self.mask(conn, response.extra.get("owner_secrets", ()))
        if mask:
            response = replace(response, mask=mask.text)
        verdict = classify(response, time.time(), conn.max_retry_after)
        await self._record(conn, verdict)
        if verdict is None:
            if conn.name in self._holds:
                await self._clear_spent(conn)
            return response
        mask.error(verdict)
        status = verdict.status
        if status in AUTH_FAILED_STATUSES:  # refusing our credentials: an alert, once a window
            self.events.publish(ConnectionAuthFailed(conn.name, status, owner, str(verdict)))
        if isinstance(verdict, RetryableStatus) and status in politeness.SLOW_DOWN_STATUSES:
            raise await self._slow_down(conn, verdict, status)
        if status == politeness.GONE_STATUS:
            raise await self.pause(conn.name, str(verdict))
        raise verdict

    def mask(self, conn: Connection, more: Sequence[str] = ()) -> SecretMask:
        """The mask of the connection's secrets as they are now, and of `more` (an owner's
        credentials), cached by their values."""
        values = (*connection_secret_values(conn), *more)
        found = self._masks.get(values)
        if found is None:
            if len(self._masks) > 64:  # rotated tokens: keep the cache small
                self._masks.clear()
            found = self._masks[values] = SecretMask(values)
        return found

    async def deliver(
        self,
        connection: str,
        method: str,
        path: str,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str,
        owner: str | None = None,
    ) -> HttpResponse:
        """One delivery: alone, or in a bundle when the connection accepts bundles (never
        one on behalf of an owner: a bundle would mix owners)."""
        conn = self.connections.get_connection(connection)
        if conn.bundle is None or headers or owner is not None:
            return await self.request(
                connection,
                method,
                path,
                json_body=body,
                headers=headers,
                idempotency_key=idempotency_key,
                owner=owner,
            )
        slot = (connection, method.upper(), path)
        bundler = self._bundlers.get(slot)
        if bundler is None:
            bundler = self._bundlers[slot] = Bundler(self, connection, slot[1], path, conn.bundle)
        return await bundler.submit(body, idempotency_key)

    async def _send(
        self,
        conn: Connection,
        method: str,
        path: str,
        body: bytes | None,
        extra: Mapping[str, str] | None,
        idempotency_key: str | None,
        owner: str | None,
        *,
        stale: str | None = "",
    ) -> HttpResponse:
        headers: dict[str, str] = {"Accept": "application/json", **conn.headers}
        if body is not None:
            headers["Content-Type"] = "application/json"
        owner_secrets: list[str] = []
        if owner is not None:
            if self.owners is None:
                raise ConfigurationError("calls on behalf of an owner need the app's accounts")
            credentials = await self.owners.owner_headers(conn, owner, stale=stale or None)
            headers.update(credentials)
            owner_secrets = [_credential(value) for value in credentials.values()]
        elif conn.auth is not None:
            headers.update(await conn.auth.headers(self.http, conn.timeouts, stale=stale or None))
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if conn.signing_secret is not None:
            message_id = idempotency_key or f"msg_{time.time_ns()}"
            headers.update(
                signature_headers(conn.signing_secret, message_id, int(time.time()), body or b"")
            )
        headers.update(extra or {})
        started = time.perf_counter()
        try:
            response = await self.http.send(
                method, conn.url(path), headers=headers, body=body, timeouts=conn.timeouts
            )
        except DeliveryError as error:
            where = str(error.details.get("url", ""))  # shown without credentials
            self._finished(conn, method, where, error.status, started, idempotency_key)
            raise
        self._finished(conn, method, response.url, response.status, started, idempotency_key)
        response.extra["authorization"] = headers.get("Authorization")
        response.extra["owner_secrets"] = owner_secrets  # masked like the connection's own
        return response

    def _finished(
        self,
        conn: Connection,
        method: str,
        url: str,
        status: int | None,
        started: float,
        idempotency_key: str | None,
    ) -> None:
        """Metrics and the request's log line subscribe to this (in the attempt's context)."""
        seconds = time.perf_counter() - started
        self.events.publish(
            HttpRequestFinished(conn.name, method, url, status, seconds, idempotency_key)
        )

    # -- breaker, hold and rate limit -------------------------------------------------------

    async def _admit(self, conn: Connection) -> None:
        store = self.limits
        probe = False
        if conn.breaker is not None:
            wait = admit(await self._breaker_state(conn.name), time.time())
            if wait > 0:
                raise Postpone(wait, f"circuit breaker of {conn.name!r} is open")
            probe = wait < 0  # cooled off: this call may be the one probe
        # Before the probe slot, so a postponed call keeps none. A hold moves a rate-limited
        # connection's bucket on (`LimitStore.change_hold`): the token refused is the hold's
        # check, and only a refusal looks the hold up. Without a rate limit, one lookup.
        if conn.rate_limit is not None:
            wait = await asyncio.to_thread(store.take_token, conn.bucket, conn.rate_limit)
            if wait > 0:
                self._refuse(await asyncio.to_thread(store.held, conn.name))
                self.events.publish(RateLimitWaited(conn.name, wait))
                raise Postpone(wait, f"rate limit of {conn.name!r}")
        else:
            self._refuse(await asyncio.to_thread(store.held, conn.name))
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

    def _refuse(self, held: tuple[Hold, float | None] | None) -> None:
        """Raise the postponement of a hold in force, if there is one (a spent one is only
        remembered: the next success clears it)."""
        if held is not None:
            hold, remaining = held
            self._holds[hold.name] = hold
            if remaining is None or remaining > 0:
                raise politeness.postponement(hold, remaining)

    async def _slow_down(self, conn: Connection, verdict: RetryableStatus, status: int) -> Postpone:
        """A 429/503: the whole connection is quiet for Retry-After (or the back-off); the job
        that got it is postponed like the others."""
        where = f"{verdict.details.get('method', '')} {verdict.details.get('url', '')}".strip()
        after, cap = verdict.after, conn.max_retry_after

        def change(current: Hold | None, now: float) -> Hold | None:
            return politeness.slow_down(current, conn.name, now, status, after, cap, where)

        before, hold = await asyncio.to_thread(
            self.limits.change_hold, conn.name, change, self._bucket(conn)
        )
        hold = hold or before
        if hold is None:  # cannot happen: slow_down refuses only while paused
            return Postpone(1.0, f"connection {conn.name!r} slowed: {verdict}")
        self._holds[conn.name] = hold
        if hold.kind == "slowed" and hold.until is not None:
            self.events.publish(
                ConnectionSlowed(conn.name, status, hold.until, hold.strikes, hold.reason)
            )
            return politeness.postponement(hold, hold.until - hold.updated_at)
        return politeness.postponement(hold, None)

    async def pause(self, name: str, reason: str) -> Postpone:
        """Pause a connection (a 410 Gone, or an operator): no request from any worker until it
        is resumed. Returns the postponement of a job that meets it."""
        conn = self.connections.get_connection(name)

        def change(current: Hold | None, now: float) -> Hold | None:
            return politeness.pause(current, name, now, reason)

        before, hold = await asyncio.to_thread(
            self.limits.change_hold, name, change, self._bucket(conn)
        )
        if hold is not None:
            self.events.publish(ConnectionPaused(name, reason))
        current = hold or before
        assert current is not None
        self._holds[name] = current
        return politeness.postponement(current, None)

    async def _clear_spent(self, conn: Connection) -> None:
        hold = self._holds.pop(conn.name)
        if hold.kind == "slowed":
            await asyncio.to_thread(self.limits.clear_spent_hold, conn.name)

    @staticmethod
    def _bucket(conn: Connection) -> tuple[str, RateLimit] | None:
        return None if conn.rate_limit is None else (conn.bucket, conn.rate_limit)

    async def _breaker_state(self, name: str) -> BreakerRecord | None:
        cached = self._breakers.get(name)
        if cached is not None and time.monotonic() - cached[0] < BREAKER_CACHE_SECONDS:
            return cached[1]
        record = await asyncio.to_thread(self.limits.breaker, name)
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
                self.limits.change_breaker,
                conn.name,
                lambda current, now: on_success(current, now, settings),
            )
        else:
            reason = str(error)
            before, after = await asyncio.to_thread(
                self.limits.change_breaker,
                conn.name,
                lambda current, now: on_failure(current, conn.name, now, settings, reason),
            )
        if after is not None:
            self._breakers[conn.name] = (time.monotonic(), after)
            event = breaker_event(conn.name, before, after)
            if event is not None:
                self.events.publish(event)


def _credential(header_value: str) -> str:
    """The secret in an auth header's value: a bearer token without its scheme."""
    return header_value[len("Bearer ") :] if header_value.startswith("Bearer ") else header_value


def _bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header[len("Bearer ") :]
    return None


# -- what a running attempt reaches ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    """What a task's attempt may use to call connections, bound by the app's task registry as
    each attempt calls its task: the client of the running loop, and the stored jobs (a payload
    stored without an idempotency key takes one from its job's row)."""

    client: Callable[[], RemoteClient]
    job: Callable[[int], Job]

    def bind(self) -> None:
        _resources.set(self)


_resources: ContextVar[Resources | None] = ContextVar("conveyor_resources", default=None)


def current_resources() -> Resources:
    resources = _resources.get()
    if resources is None:
        raise ConfigurationError(
            "current_remote() is for the code of a task while it runs (a worker's attempt or"
            " run_now); elsewhere use app.remote()"
        )
    return resources


def current_remote() -> RemoteClient:
    """The connection client of the running attempt (the same as `app.remote()` there): call
    connections from a task with `await current_remote().request("shop", "GET", "/me")`."""
    return current_resources().client()
