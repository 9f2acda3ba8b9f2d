"""The dashboard's login session and its CSRF token, kept in one signed cookie and nowhere else.

The cookie is `<token name>.<issued at>.<nonce>.<signature>`, the signature an HMAC-SHA256
keyed by the stored hash of the holder's API token: only someone who had the token can have got
one, no server secret needs sharing between `conveyor serve` processes, and revoking (or
re-creating) the token changes or removes the key, so every session made with it ends at its
next request. The cookie is HttpOnly and SameSite=Lax (Secure over HTTPS), and lasts `MAX_AGE`.

The CSRF token is another HMAC of the same key over the session's signature: tied to the session,
checked on every POST (a hidden `csrf` field), never stored.

The login form has no session yet, so it has a token of its own against login CSRF (another site
posting its own token to log the operator in as someone else): a random value in a pre-session
cookie (`LOGIN_COOKIE`: HttpOnly, SameSite=Strict, path `/login`) and the same value in the form.
Another site can neither read the cookie to copy it nor have it sent along with its POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...ops import Operations

COOKIE = "conveyor_session"
MAX_AGE = 12 * 3600  # seconds: a working day, then log in again
LOGIN_COOKIE = "conveyor_login"
LOGIN_MAX_AGE = 3600  # seconds a login form stays usable


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


def read_session(
    ops: Operations,
    cookie: str | None,
    now: float | None = None,
    digest_of: Callable[[str], str | None] | None = None,
) -> Session | None:
    """The session a cookie carries, if its signature holds, it has not expired and its token
    is still there. `digest_of` (default `ops.tokens.digest`) gives a holder's token digest."""
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
    digest = (ops.tokens.digest if digest_of is None else digest_of)(holder)
    if digest is None or not hmac.compare_digest(
        _sign(digest, f"{name_part}.{issued}.{nonce}"), signature
    ):
        return None
    return Session(holder, cookie, _csrf(digest, signature))


def csrf_matches(session: Session, sent: object) -> bool:
    return _same(session.csrf, sent)


def login_token() -> str:
    """A fresh login form's token: the pre-session cookie's value and the form's."""
    return secrets.token_urlsafe(24)


def login_token_matches(cookie: str | None, sent: object) -> bool:
    return bool(cookie) and len(cookie or "") <= 64 and _same(cookie or "", sent)


def _same(expected: str, sent: object) -> bool:
    """In constant time; as bytes, since compare_digest refuses a non-ASCII str (a 500)."""
    return isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())
