"""`app.accounts`: each owner's credentials for a connection, stored sealed, and the operator
side of them (add, list, remove, rotate the key, authorise over OAuth).

The live side (the headers of a call on behalf of an owner, single-flight refresh) is
`tokens.OwnerTokens`, which this registry extends; `app.add_account` and the like are one-line
delegations here. It takes what it uses (the accounts slice of the store, the connection lookup,
an event sink, the running loop's connection client), never the app.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..connections.tester import identity_in
from ..errors import AccountRejected, AuthorizationError, ConfigurationError, PermanentStatus
from ..events import AccountAuthorized
from ..store.accounts import AccountStore, PendingAuthorization, StoredAccount
from ..types import ConnectionLookup, EventSink, RemoteCaller
from .core import Refused, TokenGrant, authorization_expired, authorize_url, new_state, new_verifier
from .tokens import ACTIVE, OwnerTokens, context, grant_account

AUTHORIZATION_TTL = 600.0  # seconds an owner has to finish an authorisation
MAX_OWNER_LENGTH = 200


@dataclass(frozen=True)
class Account:
    """An account as operators see it: never its secret."""

    connection: str
    owner: str
    kind: str
    state: str
    reason: str | None
    expires_at: float | None
    scopes: str | None
    key_id: str
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, stored: StoredAccount) -> Account:
        return cls(
            stored.connection,
            stored.owner,
            stored.kind,
            stored.state,
            stored.reason,
            stored.expires_at,
            stored.scopes,
            stored.key_id,
            stored.created_at,
            stored.updated_at,
        )

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AccountCheck:
    """The credential check passed: what the check request answered."""

    connection: str
    owner: str
    status: int
    latency_ms: float
    identity: str | None


class AccountRegistry(OwnerTokens):
    """Add, list and remove owners' accounts; authorise them over OAuth; check them."""

    def __init__(
        self,
        store: Callable[[], AccountStore],
        connections: ConnectionLookup,
        events: EventSink,
        remote: Callable[[], RemoteCaller],
        *,
        secret_key: str | None = None,
        reauth_wait: float = 60.0,
    ) -> None:
        super().__init__(store, events, secret_key=secret_key, reauth_wait=reauth_wait)
        self.connections = connections
        self._remote = remote
        self.authorization_ttl = AUTHORIZATION_TTL

    # -- operators ----------------------------------------------------------------------------

    def add(
        self,
        connection: str,
        owner: str,
        *,
        api_key: str | None = None,
        token: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        expires_in: float | None = None,
        scopes: str | None = None,
    ) -> Account:
        """Store (or replace) an owner's credentials: one of an API key, a bearer token, or
        OAuth tokens (a refresh token, with or without a current access token). Adding clears
        a `needs_reauth` state: the owner's jobs run again."""
        conn = self.connections.get_connection(connection)
        _check_owner(owner)
        given = [api_key is not None, token is not None, bool(access_token or refresh_token)]
        if sum(given) != 1:
            raise ConfigurationError(
                "give one kind of credential: api_key=, token=, or OAuth tokens"
                " (refresh_token=, access_token=)"
            )
        now = time.time()
        if api_key is not None or token is not None:
            kind = "api_key" if api_key is not None else "token"
            value = api_key if api_key is not None else token
            if not value:
                raise ConfigurationError(f"the {kind.replace('_', ' ')} is empty")
            secret = json.dumps({kind: value})
            stored = StoredAccount(
                connection, owner, kind, "", "", ACTIVE, None, None, None, scopes, now, now
            )
            stored = self.seal(stored, secret)
        else:
            self.oauth_auth(conn)
            grant = TokenGrant(access_token or "", refresh_token, expires_in, scopes)
            stored = grant_account(self.keyring, conn, owner, grant, None, now)
            if not access_token:  # a refresh token alone: the first call refreshes
                stored = replace(stored, refresh_at=now, expires_at=None)
        self.store().put_account(stored)
        self.forget(connection, owner)
        self.events.publish(AccountAuthorized(connection, owner, stored.kind))
        return self.get(connection, owner)  # as stored: an earlier created_at is kept

    def remove(self, connection: str, owner: str) -> bool:
        """False when the owner had no account on the connection."""
        removed = self.store().remove_account(connection, owner)
        self.forget(connection, owner)
        return removed

    def list(self, connection: str | None = None) -> list[Account]:
        return [Account.of(stored) for stored in self.store().list_accounts(connection)]

    def get(self, connection: str, owner: str) -> Account:
        return Account.of(self.stored(connection, owner))

    def has(self, connection: str, owner: str) -> bool:
        return self.store().get_account(connection, owner) is not None

    def owners(self, connection: str) -> builtins.list[str]:  # `list` is a method here
        return sorted(stored.owner for stored in self.store().list_accounts(connection))

    def rotate_key(self) -> int:
        """Seal every secret sealed with an older key with the first key of
        CONVEYOR_SECRET_KEY, each under its account's lock; returns how many were."""
        keyring = self.keyring
        resealed = 0
        for stored in self.store().list_accounts():
            if stored.key_id == keyring.primary:
                continue

            def reseal(current: StoredAccount) -> StoredAccount | None:
                if current.key_id == keyring.primary:
                    return None
                plaintext = keyring.open(current.secret, context(current))
                return self.seal(current, plaintext)

            after = self.store().change_account(stored.connection, stored.owner, reseal)
            if after is not None and after.key_id == keyring.primary:
                resealed += 1
                self.forget(stored.connection, stored.owner)
        return resealed

    # -- OAuth authorisation ------------------------------------------------------------------

    async def start_authorization(
        self, connection: str, owner: str, redirect_uri: str | None = None
    ) -> str:
        """The provider URL to send the owner to. `redirect_uri`: the callback's URL when the
        connection's auth declares no `redirect_url`."""
        conn = self.connections.get_connection(connection)
        auth = self.oauth_auth(conn)
        _check_owner(owner)
        redirect = auth.redirect_url or redirect_uri
        if not redirect:
            raise ConfigurationError(
                f"connection {connection!r}: declare redirect_url= on its OAuth2AuthorizationCode"
            )
        state, verifier, now = new_state(), new_verifier(), time.time()
        sealed = self.keyring.seal(verifier, f"{connection}\0{owner}\0{state}")
        pending = PendingAuthorization(
            state, connection, owner, sealed, redirect, now + self.authorization_ttl
        )
        await asyncio.to_thread(self.store().put_authorization, pending, now)
        return authorize_url(
            auth.authorize_url,
            client_id=auth.client_id,
            redirect_uri=redirect,
            scopes=auth.scopes,
            state=state,
            verifier=verifier,
            extra=auth.authorize_params,
        )

    async def finish_authorization(self, connection: str, code: str, state: str) -> Account:
        """The callback: check `state` (once), exchange the code with its PKCE verifier, store
        the owner's tokens. Raises AuthorizationError for a callback that cannot be honoured."""
        conn = self.connections.get_connection(connection)
        auth = self.oauth_auth(conn)
        pending = await asyncio.to_thread(self.store().take_authorization, state)
        if pending is None:
            raise AuthorizationError(
                "unknown or already used OAuth state: start the authorisation again"
            )
        if pending.connection != connection:
            raise AuthorizationError("this OAuth state was issued for another connection")
        if authorization_expired(pending.expires_at, time.time()):
            raise AuthorizationError(
                f"the authorisation expired (after {self.authorization_ttl:g} s): start again"
            )
        verifier = self.keyring.open(
            pending.verifier, f"{connection}\0{pending.owner}\0{pending.state}"
        )
        http = self._remote().http
        answer = await auth.exchange_code(http, conn.timeouts, code, verifier, pending.redirect_uri)
        if not isinstance(answer, TokenGrant):
            text = answer.text() if isinstance(answer, Refused) else answer.message
            raise AuthorizationError(f"the provider refused the authorisation code ({text})")
        now = time.time()
        stored = grant_account(self.keyring, conn, pending.owner, answer, None, now)
        await asyncio.to_thread(self.store().put_account, stored)
        self.forget(connection, pending.owner)
        self.events.publish(AccountAuthorized(connection, pending.owner, stored.kind))
        return await asyncio.to_thread(self.get, connection, pending.owner)

    # -- the credential check -----------------------------------------------------------------

    async def check(self, connection: str, owner: str) -> AccountCheck:
        """The connection's check request ("GET /me") with the owner's credentials, before a
        sync fetches anything: AccountRejected (the job goes dead) when the remote refuses
        them, NeedsReauth (it waits) when the owner must authorise again."""
        conn = self.connections.get_connection(connection)
        method, _, path = conn.check.partition(" ")
        try:
            response = await self._remote().request(connection, method, path.strip(), owner=owner)
        except PermanentStatus as error:
            if error.status not in (401, 403):
                raise
            word = "unauthorised" if error.status == 401 else "forbidden"
            raise AccountRejected(
                f"connection {connection!r} refused the credentials of owner {owner!r}"
                f" ({error.status} {word} at {conn.check}): add them again or re-authorise",
                error.details,
            ) from None
        identity = identity_in(response.body, conn.identity)
        return AccountCheck(
            connection, owner, response.status, round(response.latency_ms, 1), identity
        )


def _check_owner(owner: str) -> None:
    if not owner or len(owner) > MAX_OWNER_LENGTH or owner != owner.strip():
        raise ConfigurationError(
            f"an owner is 1 to {MAX_OWNER_LENGTH} characters without surrounding spaces,"
            f" not {owner!r}"
        )
