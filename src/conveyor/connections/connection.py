"""Connections: the named external systems an app declares (what `app.connection(...)` and the
config file make). The live side that calls them is `client.RemoteClient`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from ..breaker import Breaker
from ..errors import ConfigurationError
from ..ratelimit import RateLimit
from .auth import Auth
from .bundling import Bundle
from .http import Timeouts
from .secrets import Secret, secret


@dataclass
class Connection:
    """A named external system. `check` is the connection tester's request ("GET /me");
    `identity` is the dotted path, in its JSON answer, of the account it authenticated as, or a
    template of several (`"{company.name} ({company.id})"`)."""

    name: str
    base_url: str
    auth: Auth | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    headers: dict[str, str] = field(default_factory=dict)
    signing_secret: Secret | None = None
    rate_limit: RateLimit | None = None
    breaker: Breaker | None = field(default_factory=Breaker)
    max_retry_after: float = 3600.0
    check: str = "GET /"
    identity: str | None = None
    bundle: Bundle | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"connection {self.name!r}: base_url must be an http(s) URL, not {self.base_url!r}"
            )
        if not self.base_url.endswith("/"):
            self.base_url += "/"
        method, _, path = self.check.partition(" ")
        if not path or method.upper() not in ("GET", "HEAD", "POST"):
            raise ConfigurationError(f"connection {self.name!r}: check must look like 'GET /me'")

    def url(self, path: str) -> str:
        check_relative(path)
        return urljoin(self.base_url, path.strip().lstrip("/"))

    @property
    def bucket(self) -> str:
        return f"connection:{self.name}"


def check_relative(path: str) -> None:
    """Refuse anything that would leave the connection's host (and take its credentials along)."""
    parts = urlsplit(path.strip())
    if parts.scheme or parts.netloc or path.strip().startswith("//"):
        raise ConfigurationError(
            f"give a path relative to the connection's base_url, not {parts.scheme or ''}"
            f"{'://' if parts.scheme else ''}{parts.netloc}…"
        )


def make_connection(
    name: str,
    base_url: str,
    *,
    auth: Auth | None = None,
    timeouts: Timeouts | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
    signing_secret: str | Secret | None = None,
    rate_limit: str | float | RateLimit | None = None,
    burst: int | None = None,
    breaker: Breaker | bool | None = True,
    max_retry_after: float = 3600.0,
    check: str = "GET /",
    identity: str | None = None,
    bundle: Bundle | None = None,
) -> Connection:
    """The keyword form `app.connection(...)` and the config file use. A number as `rate_limit`
    is requests per second."""
    check_auth(name, auth)
    if timeouts is None:
        timeouts = Timeouts(connect=connect_timeout or 5.0, read=read_timeout or 10.0)
    return Connection(
        name=name,
        base_url=base_url,
        auth=auth,
        timeouts=timeouts,
        headers=dict(headers or {}),
        signing_secret=secret(signing_secret),
        rate_limit=RateLimit.parse(rate_limit, burst) if rate_limit is not None else None,
        breaker=Breaker() if breaker is True else (breaker or None),
        max_retry_after=max_retry_after,
        check=check,
        identity=identity,
        bundle=bundle,
    )


def check_auth(name: str, auth: object) -> None:
    """An auth given as a plain string would be silently unusable: say which object to use
    (without echoing the string: it is likely a credential)."""
    if auth is None or isinstance(auth, Auth):
        return
    if isinstance(auth, str):
        scheme = auth.strip().partition(" ")[0].lower()
        hint = {
            "bearer": 'Bearer("env:TOKEN_VARIABLE")',
            "basic": 'Basic("user", "env:PASSWORD_VARIABLE")',
        }.get(scheme, 'Bearer("env:TOKEN_VARIABLE"), Basic(...), ApiKey(...)')
        raise ConfigurationError(
            f"connection {name!r}: auth must be an auth object, not a string: use auth={hint} "
            "(from conveyor; the token itself or an env:NAME reference)"
        )
    raise ConfigurationError(
        f"connection {name!r}: auth must be Bearer, Basic, ApiKey, OAuth2ClientCredentials or "
        f"OAuth2AuthorizationCode (from conveyor), not {type(auth).__name__}"
    )
