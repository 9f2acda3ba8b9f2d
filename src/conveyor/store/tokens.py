"""The tokens slice: API bearer tokens, kept only as the SHA-256 of a high-entropy random token,
so a token is checked by looking its hash up (no comparison of secrets in Python). SQL:
`sql/<dialect>/tokens.sql`; tests: `tests/store/test_tokens.py`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TokenRecord:
    """A token as listed: never the token itself."""

    name: str
    created_at: float
    last_used_at: float | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_from_row(row: Any) -> TokenRecord:
    name, created_at, last_used_at = (
        tuple(row)[:3]
        if not hasattr(row, "keys")
        else (row["name"], row["created_at"], row["last_used_at"])
    )
    return TokenRecord(name, created_at, last_used_at)


class TokenStore:
    def create_token(self, name: str, token: str, now: float) -> bool:
        """Store a token's hash under `name`; False if the name is taken."""
        raise NotImplementedError

    def list_tokens(self) -> list[TokenRecord]:
        raise NotImplementedError

    def revoke_token(self, name: str) -> bool:
        raise NotImplementedError

    def token_digest(self, name: str) -> str | None:
        """The stored hash of the token named `name` (it keys the dashboard's session
        signatures: revoking the token ends them), or None."""
        raise NotImplementedError

    def check_token(self, token: str, now: float) -> str | None:
        """The name of the token whose hash matches (its last use noted), or None."""
        raise NotImplementedError
