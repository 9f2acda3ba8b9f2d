"""Bearer tokens for the operator API and the dashboard: made, listed, revoked, checked.

A token is shown once, when made; the store keeps only its SHA-256 (a token carries 256 random
bits, so a fast hash is enough: nothing to brute-force), and a check is a lookup by that hash
(no secret compared in Python, so no timing to measure).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

from .errors import ConfigurationError
from .store.tokens import TokenRecord, TokenStore

PREFIX = "cvr_"  # recognisable in a leaked log or a secret scanner
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class TokenError(ConfigurationError):
    """A token name that is malformed, taken, or unknown."""


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


class ApiTokens:
    """The operator service's tokens, over the tokens slice."""

    def __init__(self, store: Callable[[], TokenStore]) -> None:
        self._slice = store  # opened on first use, like the rest of the operator service

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
        if not self._store.create_token(name, token, time.time()):
            raise TokenError(f"a token named {name!r} exists: revoke it first, or pick another")
        return token

    def list(self) -> list[TokenRecord]:
        return self._store.list_tokens()

    def revoke(self, name: str) -> None:
        if not self._store.revoke_token(name):
            raise TokenError(f"no token named {name!r}")

    def digest(self, name: str) -> str | None:
        """The stored SHA-256 of `name`'s token (None: no such token). The dashboard keys its
        session signatures with it, so revoking (or re-creating) the token ends the sessions."""
        return self._store.token_digest(name)

    def check(self, token: str) -> str | None:
        """The name of the token's holder, or None for an unknown or revoked token."""
        if not token.startswith(PREFIX) or len(token) > 128:
            return None
        return self._store.check_token(token, time.time())
