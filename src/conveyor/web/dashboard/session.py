"""The dashboard's login session and its CSRF token, kept in one signed cookie and nowhere else.

The cookie is `<token name>.<issued at>.<nonce>.<signature>`, the signature an HMAC-SHA256
keyed by the stored hash of the holder's API token: only someone who had the token can have got
one, no server secret needs sharing between `conveyor serve` processes, and revoking (or
re-creating) the token changes or removes the key, so every session made with it ends at its
next request. The cookie is HttpOnly and SameSite=Lax (Secure over HTTPS), and lasts `MAX_AGE`.

The CSRF token is another HMAC of the same key over the session's signature: tied to the session,
checked on every POST (a hidden `csrf` field), never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...ops import Operations

COOKIE = "conveyor_session"
MAX_AGE = 12 * 3600  # seconds: a working day, then log in again


@dataclass(frozen=True)
class Session:
    holder: str  # the API token's name
    cookie: str
    csrf: str


def _sign(digest: str, message: str) -> str:
    mac = hmac.new(digest.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _name_part(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _csrf(digest: str, signature: str) -> str:
    return _sign(digest, "csrf:" + signature)


def open_session(ops: Operations, token: str, now: float | None = None) -> Session | None:
    """A session for a valid token (None: unknown or revoked)."""
    holder = ops.tokens.check(token.strip())
    if holder is None:
        return None
    digest = ops.tokens.digest(holder)
    if digest is None:  # revoked in between
        return None
    issued = int(time.time() if now is None else now)
    message = f"{_name_part(holder)}.{issued}.{secrets.token_urlsafe(12)}"
    signature = _sign(digest, message)
    return Session(holder, f"{message}.{signature}", _csrf(digest, signature))


def read_session(ops: Operations, cookie: str | None, now: float | None = None) -> Session | None:
    """The session a cookie carries, if its signature holds, it has not expired and its token
    is still there."""
    if not cookie or len(cookie) > 512:
        return None
    parts = cookie.split(".")
    if len(parts) != 4 or not parts[1].isdigit() or len(parts[1]) > 12:
        return None
    name_part, issued, nonce, signature = parts
    age = (time.time() if now is None else now) - int(issued)
    if age >= MAX_AGE or age < -60:  # a minute of clock skew between processes
        return None
    try:
        holder = base64.urlsafe_b64decode(name_part + "=" * (-len(name_part) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    digest = ops.tokens.digest(holder)
    if digest is None or not hmac.compare_digest(
        _sign(digest, f"{name_part}.{issued}.{nonce}"), signature
    ):
        return None
    return Session(holder, cookie, _csrf(digest, signature))


def csrf_matches(session: Session, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(session.csrf, sent)
