"""The accounts slice: per-owner credentials of connections, and pending OAuth authorisations.

Secrets arrive here already encrypted (`conveyor.accounts.envelope`): the store never sees a
plaintext credential. Its SQL is `sql/<dialect>/accounts.sql`; its contract tests
`tests/store/test_accounts.py`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ACCOUNT_FIELDS = (
    "connection",
    "owner",
    "kind",
    "secret",
    "key_id",
    "state",
    "reason",
    "expires_at",
    "refresh_at",
    "scopes",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """One owner's credentials for one connection, as stored. `secret` is the encrypted
    envelope; `kind` is api_key, token or oauth; `state` is active or needs_reauth. Times are
    epoch seconds; `refresh_at` is when an OAuth access token is due for a refresh."""

    connection: str
    owner: str
    kind: str
    secret: str
    key_id: str
    state: str
    reason: str | None
    expires_at: float | None
    refresh_at: float | None
    scopes: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An OAuth authorisation started and not yet called back: its `state`, the owner it is
    for, the PKCE verifier (encrypted) and the redirect URI the code is bound to."""

    state: str
    connection: str
    owner: str
    verifier: str
    redirect_uri: str
    expires_at: float


# `change(current)`: the account to store instead (in one UPDATE), or None to leave it.
AccountChange = Callable[[StoredAccount], StoredAccount | None]


def account_from_row(row: Any) -> StoredAccount:
    return StoredAccount(**{field: row[field] for field in ACCOUNT_FIELDS})


class AccountStore(ABC):
    """Accounts by (connection, owner), and authorisations by state."""

    @abstractmethod
    def put_account(self, account: StoredAccount) -> None:
        """Insert the account, or replace every field of the stored one but `created_at`."""

    @abstractmethod
    def get_account(self, connection: str, owner: str) -> StoredAccount | None: ...

    @abstractmethod
    def list_accounts(self, connection: str | None = None) -> list[StoredAccount]:
        """By connection, then owner."""

    @abstractmethod
    def remove_account(self, connection: str, owner: str) -> bool:
        """False when there was no such account."""

    @abstractmethod
    def change_account(
        self, connection: str, owner: str, change: AccountChange
    ) -> StoredAccount | None:
        """Apply `change` to the account under its lock, re-read once the lock is held, so that
        a process that waited sees what the holder stored (one refresh, however many wait).
        Returns the account as it is afterwards, or None when there is none."""

    @abstractmethod
    def put_authorization(self, pending: PendingAuthorization, now: float) -> None:
        """Store a started authorisation, and drop those expired by `now`."""

    @abstractmethod
    def take_authorization(self, state: str) -> PendingAuthorization | None:
        """Remove and return the authorisation of `state`: a state is used once, so a replayed
        callback finds nothing."""
