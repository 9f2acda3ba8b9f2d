"""Bearer tokens for the operator API and the dashboard: made, listed, revoked, checked.

A token is shown once, when made; the store keeps only its SHA-256 (a token carries 256 random
bits, so a fast hash is enough: nothing to brute-force), and a check is a lookup by that hash
(no secret compared in Python, so no timing to measure).

A server process remembers a good check for `REMEMBER_FOR` (1 s): a dashboard polled once a
second asks for every page's token again, and the lookup was a tenth of an API request's cost.
A revocation through this process forgets at once; one made by another process (`conveyor
tokens revoke`) takes effect within that second.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

from .errors import ConfigurationError
from .store.tokens import TokenRecord, TokenStore

PREFIX = "cvr_"  # recognisable in a leaked log or a secret scanner
REMEMBER_FOR = 1.0  # seconds a good check (or a holder's digest) is kept in the process
REMEMBERED = 1024  # at most this many kept: past it, all are forgotten
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class TokenError(ConfigurationError):
    """A token name that is malformed, taken, or unknown."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


class ApiTokens:
    """The operator service's tokens, over the tokens slice."""

    def __init__(
        self,
        store: Callable[[], TokenStore],
        clock: Callable[[], float] = time.monotonic,
        remember_for: float = REMEMBER_FOR,
    ) -> None:
        self._slice = store  # opened on first use, like the rest of the operator service
        self._clock, self._remember_for = clock, remember_for
        # token -> (holder, until) and holder -> (digest, until); only good answers are kept,
        # so random tokens cannot fill them.
        self._holders: dict[str, tuple[str, float]] = {}
        self._digests: dict[str, tuple[str, float]] = {}

    @property
    def _store(self) -> TokenStore:
        return self._slice()

    def create(self, name: str) -> str:
        if not _NAME.match(name):
            raise TokenError(
                f"bad token name {name!r}: 1-64 letters, digits, '_', '.', '@' or '-', "
                "starting with a letter or digit"
            )
        token = new_token()
        self.forget()  # a name re-created here: its old digest must not linger
        if not self._store.create_token(name, token, time.time()):
            raise TokenError(f"a token named {name!r} exists: revoke it first, or pick another")
        return token

    def list(self) -> list[TokenRecord]:
        return self._store.list_tokens()

    def revoke(self, name: str) -> None:
        self.forget()
        if not self._store.revoke_token(name):
            raise TokenError(f"no token named {name!r}")

    def forget(self) -> None:
        """Drop the remembered checks: the next check of every token reads the store."""
        self._holders.clear()
        self._digests.clear()

    def _remember(self, kept: dict[str, tuple[str, float]], key: str, value: str) -> None:
        if len(kept) >= REMEMBERED:
            kept.clear()
        kept[key] = (value, self._clock() + self._remember_for)

    def _recall(self, kept: dict[str, tuple[str, float]], key: str) -> str | None:
        found = kept.get(key)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def remembered_digest(self, name: str) -> str | None:
        """`digest(name)` if this process remembers it, else None: no store read, so an event
        loop may call it (the dashboard's session check), falling back to `digest` in a thread."""
        return self._recall(self._digests, name)

    def remembered_holder(self, token: str) -> str | None:
        """`check(token)` if this process remembers it, else None, without a store read."""
        return self._recall(self._holders, token)

    def digest(self, name: str) -> str | None:
        """The stored SHA-256 of `name`'s token (None: no such token). The dashboard keys its
        session signatures with it, so revoking (or re-creating) the token ends the sessions."""
        remembered = self._recall(self._digests, name)
        if remembered is not None:
            return remembered
        digest = self._store.token_digest(name)
        if digest is not None:
            self._remember(self._digests, name, digest)
        return digest

    def check(self, token: str) -> str | None:
        """The name of the token's holder, or None for an unknown or revoked token."""
        if not token.startswith(PREFIX) or len(token) > 128:
            return None
        remembered = self._recall(self._holders, token)
        if remembered is not None:
            return remembered
        holder = self._store.check_token(token, time.time())
        if holder is not None:
            self._remember(self._holders, token, holder)
        return holder
