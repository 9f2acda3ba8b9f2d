"""The live side of accounts: the headers of a call on behalf of an owner, and the refresh of
its OAuth tokens, single-flight in the process and across processes.

In the process, the jobs that need one owner's new token at once await one future. Across
processes, the refresh runs inside the store's lock on the account (`change_account`: a row
lock on PostgreSQL, the write lock on SQLite), and decides only after taking it: a process
that waited finds the token another one just stored, and uses it instead of refreshing again.
The token request runs in the thread that holds the lock, on an event loop of its own. The
provider's answer (a new access token, and a rotated refresh token if it sent one) is stored by
one UPDATE, so the two are never out of step.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from .. import settings
from ..connections.auth import ApiKey
from ..connections.http import HttpClient
from ..errors import (
    ConfigurationError,
    NeedsReauth,
    PermanentStatus,
    RemoteUnavailable,
    RetryableStatus,
    UnknownAccount,
)
from ..events import AccountNeedsReauth, EventSink
from ..store.accounts import AccountStore, StoredAccount
from .core import Failed, Refused, TokenGrant, refresh_due, refresh_point
from .envelope import Keyring
from .oauth import OAuth2AuthorizationCode

if TYPE_CHECKING:
    from ..connections.connection import Connection

ACTIVE = "active"
NEEDS_REAUTH = "needs_reauth"
CACHE_SECONDS = 1.0  # another process's change (a refresh, a removal) is seen within this
DEFAULT_API_KEY_HEADER = "X-API-Key"


def context(stored: StoredAccount) -> str:
    """What a secret is sealed to: its account and kind (envelope.py)."""
    return f"{stored.connection}\0{stored.owner}\0{stored.kind}"


def sealed(keyring: Keyring, stored: StoredAccount, plaintext: str) -> StoredAccount:
    return replace(stored, secret=keyring.seal(plaintext, context(stored)), key_id=keyring.primary)


def grant_account(
    keyring: Keyring,
    conn: Connection,
    owner: str,
    grant: TokenGrant,
    previous_refresh: str | None,
    now: float,
) -> StoredAccount:
    """The account a token grant makes: active, its refresh token the new one if the provider
    rotated it, else the one it was refreshed with."""
    margin = conn.auth.refresh_margin if isinstance(conn.auth, OAuth2AuthorizationCode) else 60.0
    lifetime = grant.lifetime
    secret = json.dumps(
        {
            "access_token": grant.access_token,
            "refresh_token": grant.refresh_token or previous_refresh,
        }
    )
    stored = StoredAccount(
        conn.name,
        owner,
        "oauth",
        "",
        "",
        ACTIVE,
        None,
        None if lifetime is None else now + lifetime,
        None if lifetime is None else refresh_point(now, lifetime, margin),
        grant.scope,
        now,
        now,
    )
    return sealed(keyring, stored, secret)


async def _token_request(
    auth: OAuth2AuthorizationCode, conn: Connection, refresh_token: str
) -> TokenGrant | Refused | Failed:
    """The refresh request, on a loop and client of its own in the thread that holds the
    account's lock: nothing it needs (its DNS lookup, its connection) waits for the app's
    loop or its executor, whose threads may all be queued behind that lock."""
    http = HttpClient(limit=1)
    limit = conn.timeouts.connect + 2 * conn.timeouts.read
    try:
        return await asyncio.wait_for(auth.refresh(http, conn.timeouts, refresh_token), limit)
    except TimeoutError:
        raise RemoteUnavailable(f"OAuth2 refresh at {auth.token_url} timed out") from None
    finally:
        await http.close()


class OwnerTokens:
    """The `OwnerCredentials` of `conveyor.types`: what a call on behalf of an owner sends."""

    def __init__(
        self,
        store: Callable[[], AccountStore],
        events: EventSink,
        *,
        secret_key: str | None = None,
        reauth_wait: float = 60.0,
    ) -> None:
        self.store = store
        self.events = events
        self.secret_key = secret_key  # else CONVEYOR_SECRET_KEY, read when needed
        self.reauth_wait = reauth_wait  # seconds a job of an owner in needs_reauth waits
        self.refreshes = 0  # refresh requests this process sent
        self._keyrings: dict[str, Keyring] = {}
        self._cache: dict[tuple[str, str], tuple[float, StoredAccount]] = {}
        self._inflight: dict[
            tuple[asyncio.AbstractEventLoop, str, str], asyncio.Task[StoredAccount]
        ] = {}

    # -- secrets ------------------------------------------------------------------------------

    @property
    def keyring(self) -> Keyring:
        text = settings.secret_key(self.secret_key) or ""
        ring = self._keyrings.get(text)
        if ring is None:
            ring = Keyring.parse(text)
            self._keyrings = {text: ring}
        return ring

    def seal(self, stored: StoredAccount, plaintext: str) -> StoredAccount:
        return sealed(self.keyring, stored, plaintext)

    def open(self, stored: StoredAccount) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.keyring.open(stored.secret, context(stored)))
        return value

    # -- accounts -----------------------------------------------------------------------------

    def stored(self, connection: str, owner: str) -> StoredAccount:
        stored = self.store().get_account(connection, owner)
        if stored is None:
            raise UnknownAccount(f"owner {owner!r} has no account on connection {connection!r}")
        return stored

    def forget(self, connection: str, owner: str) -> None:
        self._cache.pop((connection, owner), None)

    @staticmethod
    def oauth_auth(conn: Connection) -> OAuth2AuthorizationCode:
        if not isinstance(conn.auth, OAuth2AuthorizationCode):
            raise ConfigurationError(
                f"connection {conn.name!r} does not use OAuth2AuthorizationCode: OAuth tokens"
                " of its owners could not be refreshed"
            )
        return conn.auth

    async def _load(self, connection: str, owner: str) -> StoredAccount:
        cached = self._cache.get((connection, owner))
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        stored = await asyncio.to_thread(self.stored, connection, owner)
        self._cache[(connection, owner)] = (time.monotonic(), stored)
        return stored

    def _usable(self, stored: StoredAccount) -> None:
        if stored.state == NEEDS_REAUTH:
            raise NeedsReauth(
                self.reauth_wait,
                f"owner {stored.owner!r} of connection {stored.connection!r} must authorise it"
                f" again ({stored.reason}): /oauth/{stored.connection}/start?owner=... or"
                " `conveyor accounts add`",
            )

    # -- the headers of a call ----------------------------------------------------------------

    async def owner_headers(
        self, connection: Connection, owner: str, *, stale: str | None = None
    ) -> dict[str, str]:
        """API key: the connection's ApiKey header (X-API-Key if it declares none); a token or
        an OAuth access token: `Authorization: Bearer`, refreshed first when due or refused."""
        stored = await self._load(connection.name, owner)
        self._usable(stored)
        secret = self.open(stored)
        if stored.kind == "api_key":
            auth = connection.auth
            header = auth.header if isinstance(auth, ApiKey) else DEFAULT_API_KEY_HEADER
            return {header: secret["api_key"]}
        token = secret.get("access_token") or secret.get("token") or ""
        if stored.kind == "oauth":
            refused = stale is not None and stale == token
            if refused or not token or refresh_due(stored.refresh_at, time.time()):
                stored = await self._refresh(connection, owner, token if refused else None)
                token = self.open(stored)["access_token"]
        return {"Authorization": f"Bearer {token}"}

    async def _refresh(self, conn: Connection, owner: str, stale: str | None) -> StoredAccount:
        """One refresh per owner in this process, however many jobs wait for it. It runs as a
        task of its own: a job cancelled while it waits (its timeout) cancels only its wait."""
        loop = asyncio.get_running_loop()
        slot = (loop, conn.name, owner)
        task = self._inflight.get(slot)
        if task is None:
            task = loop.create_task(self._refresh_locked(conn, owner, stale))
            self._inflight[slot] = task
            task.add_done_callback(partial(self._refreshed, slot))
        return await asyncio.shield(task)

    def _refreshed(
        self, slot: tuple[asyncio.AbstractEventLoop, str, str], task: asyncio.Task[StoredAccount]
    ) -> None:
        self._inflight.pop(slot, None)
        if not task.cancelled():
            task.exception()  # retrieved: every waiter re-raises it, and none may be left

    async def _refresh_locked(
        self, conn: Connection, owner: str, stale: str | None
    ) -> StoredAccount:
        auth = self.oauth_auth(conn)
        refused: list[str] = []

        def change(current: StoredAccount) -> StoredAccount | None:
            """Runs in a store thread, the account locked: decide now, from the row as it is."""
            if current.state != ACTIVE or current.kind != "oauth":
                return None
            secret = self.open(current)
            token = secret.get("access_token") or ""
            now = time.time()
            due = (
                token == stale
                if stale is not None
                else not token or refresh_due(current.refresh_at, now)
            )
            if not due:
                return None  # another process refreshed it while this one waited for the lock
            refresh_token = secret.get("refresh_token")
            if not refresh_token:
                refused.append("no refresh token is stored")
                return replace(current, state=NEEDS_REAUTH, reason=refused[0], updated_at=now)
            answer = asyncio.run(_token_request(auth, conn, refresh_token))
            self.refreshes += 1
            now = time.time()
            if isinstance(answer, Refused):
                refused.append(answer.text())
                reason = f"the provider refused the refresh token ({answer.text()})"
                return replace(current, state=NEEDS_REAUTH, reason=reason, updated_at=now)
            if isinstance(answer, Failed):
                error = RetryableStatus if answer.retryable else PermanentStatus
                details = {"status": answer.status, "url": auth.token_url}
                raise error(f"OAuth2 refresh of owner {owner!r}: {answer.message}", details)
            fresh = grant_account(self.keyring, conn, owner, answer, refresh_token, now)
            return replace(
                fresh, scopes=answer.scope or current.scopes, created_at=current.created_at
            )

        after = await asyncio.to_thread(self.store().change_account, conn.name, owner, change)
        if after is None:
            self.forget(conn.name, owner)
            raise UnknownAccount(f"owner {owner!r} has no account on connection {conn.name!r}")
        self._cache[(conn.name, owner)] = (time.monotonic(), after)
        if refused:
            self.events.publish(AccountNeedsReauth(conn.name, owner, after.reason or refused[0]))
        self._usable(after)
        return after
