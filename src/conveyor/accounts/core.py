"""The pure core of per-owner accounts: PKCE, `state`, the refresh decision, and the reading of
a token endpoint's answer. No I/O and no clock: `now` is always given.

PKCE (RFC 7636) with S256 only: the verifier is 64 URL-safe characters (the RFC asks 43 to 128),
the challenge the unpadded base64url of its SHA-256. `state` is 32 random URL-safe characters,
kept server-side with its verifier and used once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

CHALLENGE_METHOD = "S256"
DEFAULT_LIFETIME = 3600.0  # an access token whose answer gives no expires_in


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    return secrets.token_urlsafe(24)


def authorize_url(
    base: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...],
    state: str,
    verifier: str,
    extra: dict[str, str] | None = None,
) -> str:
    """The provider's authorisation URL, its own query (if any) kept."""
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": CHALLENGE_METHOD,
        **({"scope": " ".join(scopes)} if scopes else {}),
        **(extra or {}),
    }
    parts = urlsplit(base)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def refresh_point(now: float, lifetime: float, margin: float) -> float:
    """When to refresh a token that lives `lifetime` seconds from `now`: `margin` seconds
    before it expires, or halfway through a token that lives less than twice the margin."""
    return now + lifetime - min(margin, lifetime / 2)


def refresh_due(refresh_at: float | None, now: float) -> bool:
    """Refresh now? A token with no known expiry is used until the remote refuses it."""
    return refresh_at is not None and now >= refresh_at


def authorization_expired(expires_at: float, now: float) -> bool:
    return now >= expires_at


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A token endpoint's answer. `refresh_token` None: the provider did not rotate it (the
    old one stays valid); `lifetime` None: no expiry was given."""

    access_token: str
    refresh_token: str | None
    lifetime: float | None
    scope: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The provider refused the grant itself (`invalid_grant`: the refresh token or code was
    revoked, expired or already used): only the owner authorising again helps."""

    error: str
    description: str | None

    def text(self) -> str:
        return f"{self.error}: {self.description}" if self.description else self.error


@dataclass(frozen=True, slots=True)
class Failed:
    """Any other unusable answer; `retryable` when trying later may help (5xx, 408, 429)."""

    status: int
    message: str
    retryable: bool


def read_token_answer(status: int, body: bytes) -> TokenGrant | Refused | Failed:
    """RFC 6749 §5.1 (a grant) or §5.2 (an error: 400 with `error`)."""
    data = _json_object(body)
    if status == 200:
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            return Failed(status, "the token answer has no access_token", False)
        refresh = data.get("refresh_token")
        lifetime = data.get("expires_in")
        scope = data.get("scope")
        return TokenGrant(
            token,
            refresh if isinstance(refresh, str) and refresh else None,
            float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else None,
            scope if isinstance(scope, str) else None,
        )
    error = data.get("error")
    if status in (400, 401) and error == "invalid_grant":
        description = data.get("error_description")
        return Refused("invalid_grant", description if isinstance(description, str) else None)
    retryable = status >= 500 or status in (408, 429)
    what = f" ({error})" if isinstance(error, str) else ""
    return Failed(status, f"the token endpoint answered {status}{what}", retryable)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
