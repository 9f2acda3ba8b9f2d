"""Connections declared in a TOML file (`conveyor.toml`), one table per connection.

    [connections.shop]
    base_url = "https://api.example.com"
    auth = { type = "bearer", token = "env:SHOP_TOKEN" }
    rate_limit = "5/s"

Every key maps to the keyword of the same name of `make_connection` (see examples/conveyor.toml
for all of them). Secrets (`token`, `password`, `key`, `client_secret`, `signing_secret`) are
best written as `env:NAME` references, resolved from the environment each time they are used, so
the file holds no credential; a literal value works too, but then the file is a secret itself.

The whole file is checked before anything is registered, and every mistake in it is reported at
once: an unknown key, a value of the wrong type, a bad rate limit, an unknown auth type or a
missing required key each give one line naming the file and the key, like
`conveyor.toml: connections.shop.auth.type: unknown auth type 'magic' (bearer, basic, ...)`,
and all of them are raised as one `ConfigurationError`, joined by "; " (one line, as the CLI
prints errors).

A connection may be declared in Python (`app.connection(...)`) or in the file, not both:
`apply_config` refuses a name the application already has, and registers nothing then.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from ..breaker import Breaker
from ..errors import ConfigurationError
from ..ratelimit import RateLimit
from .auth import ApiKey, Auth, Basic, Bearer, OAuth2ClientCredentials
from .bundling import Bundle
from .connection import Connection, make_connection
from .registry import ConnectionRegistry
from .tables import HEADER_NAME, Table, key_path

CONFIG_ENV = "CONVEYOR_CONFIG"
AUTH_TYPES = ("bearer", "basic", "api_key", "oauth2", "oauth2_code")
CHECK_METHODS = ("GET", "HEAD", "POST")
CONNECTION_KEYS = (
    "base_url",
    "auth",
    "rate_limit",
    "burst",
    "signing_secret",
    "connect_timeout",
    "read_timeout",
    "headers",
    "breaker",
    "check",
    "identity",
    "max_retry_after",
    "bundle",
)
BREAKER_KEYS = ("failures", "cool_off", "max_cool_off", "probe_timeout")
BUNDLE_KEYS = ("max_size", "max_wait")


class HasConnections(Protocol):
    """An application, as far as a config file is concerned: its connection registry."""

    @property
    def connections(self) -> ConnectionRegistry: ...


@dataclass(frozen=True)
class ConnectionSpec:
    """One `[connections.NAME]` table, checked: the arguments of `app.connection(...)`."""

    name: str
    base_url: str
    options: dict[str, Any] = field(default_factory=dict)

    def build(self) -> Connection:
        return make_connection(self.name, self.base_url, **self.options)


def load_config(path: str | os.PathLike[str]) -> list[Connection]:
    """The connections a config file declares, in file order. Raises ConfigurationError."""
    return [spec.build() for spec in read_config(path)]


def apply_config(app: HasConnections, path: str | os.PathLike[str]) -> list[Connection]:
    """Declare a config file's connections on `app` (all of them, or none on any error).

    A name the application already declares (in Python, or from another file) is an error:
    each connection is declared in exactly one place.
    """
    source = os.fspath(path)
    specs = read_config(path)
    registry = app.connections
    clashes = []
    for spec in specs:
        if spec.name in registry:
            where = registry.sources.get(spec.name)
            origin = f"by {where}" if where else "in Python (app.connection)"
            clashes.append(
                f"{source}: {key_path('connections', spec.name)}: a connection named "
                f"{spec.name!r} is already declared {origin}; declare it in one place only"
            )
    if clashes:
        raise ConfigurationError("; ".join(clashes))
    return [
        registry.declare(spec.name, spec.base_url, source=source, **spec.options) for spec in specs
    ]


def read_config(path: str | os.PathLike[str]) -> list[ConnectionSpec]:
    """Read and check a config file: every connection's `app.connection(...)` arguments."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{source}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigurationError(f"{source}: cannot read the config file ({reason})") from None
    return parse_config(text, source)


def parse_config(text: str, source: str = "conveyor.toml") -> list[ConnectionSpec]:
    """Check the text of a config file; `source` names it in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{source}: invalid TOML: {error}") from None
    root = Table(source, (), document, [])
    tables = root.guard(
        lambda: root.table("connections", expected="a table of [connections.NAME] tables")
    )
    root.take("webhooks")  # read by conveyor.inbound.config
    root.take("sources")  # read by conveyor.sync.config
    root.take("schedules")  # read by conveyor.schedule.config
    root.take("alerts")  # read by conveyor.alerts.config
    root.take("alerting")  # read by conveyor.alerts.config
    known = ("connections", "webhooks", "sources", "schedules", "alerts", "alerting")
    root.finish("top-level keys", known)
    specs = [] if tables is None else _connections(tables)
    if root.mistakes:
        raise ConfigurationError("; ".join(root.mistakes))
    return specs


def _connections(tables: Table) -> list[ConnectionSpec]:
    specs = []
    for name in list(tables.data):
        if not name.strip():
            tables.mistakes.append(str(tables.error(name, "a connection name cannot be empty")))
            continue
        table = tables.guard(
            partial(tables.table, name, required=True, expected="a [connections.NAME] table")
        )
        spec = None if table is None else _connection(name, table)
        if spec is not None:
            specs.append(spec)
    return specs


# -- one connection -----------------------------------------------------------------------------


def _connection(name: str, table: Table) -> ConnectionSpec | None:
    """The connection's arguments, or None when it has mistakes (recorded on the table)."""
    before = len(table.mistakes)
    guard = table.guard
    base_url = guard(lambda: table.url("base_url", required=True))
    auth = guard(
        lambda: table.table("auth", expected="a table like { type = 'bearer', token = 'env:NAME' }")
    )
    headers = guard(lambda: table.table("headers", expected="a table of header names and values"))
    check = guard(lambda: table.string("check"))
    found: dict[str, Any] = {
        "auth": None if auth is None else guard(lambda: _auth(auth)),
        **(guard(lambda: _rate_limit(table)) or {}),
        "signing_secret": guard(lambda: table.secret("signing_secret")),
        "connect_timeout": guard(lambda: table.seconds("connect_timeout", positive=True)),
        "read_timeout": guard(lambda: table.seconds("read_timeout", positive=True)),
        "headers": None if headers is None else guard(lambda: _headers(headers)),
        "breaker": guard(lambda: _breaker(table)),
        "check": None if check is None else guard(lambda: _check(table, check)),
        "identity": guard(lambda: table.string("identity", plain=True)),
        "max_retry_after": guard(lambda: table.seconds("max_retry_after", positive=False)),
        "bundle": guard(lambda: _bundle(table)),
    }
    table.finish("connection settings", CONNECTION_KEYS)
    if base_url is None or len(table.mistakes) > before:
        return None
    options = {key: value for key, value in found.items() if value is not None}
    spec = ConnectionSpec(name, base_url, options)
    # Anything make_connection still refuses, with the file name.
    return spec if guard(lambda: table.convert(None, spec.build)) is not None else None


def _rate_limit(table: Table) -> dict[str, Any]:
    spec: str | float | None
    if isinstance(table.data.get("rate_limit"), int | float) and not isinstance(
        table.data.get("rate_limit"), bool
    ):
        spec = table.take("rate_limit")  # requests per second, as in Python
    else:
        spec = table.string("rate_limit", plain=True)
    burst = table.integer("burst", minimum=1)
    if spec is None:
        if burst is not None:
            raise table.error("burst", "a burst needs a rate_limit (like rate_limit = '5/s')")
        return {}
    return {
        "rate_limit": table.convert("rate_limit", lambda: RateLimit.parse(spec)),
        "burst": burst,
    }


def _auth(table: Table) -> Auth | None:
    """The auth object; None when a mistake was recorded (each key is checked)."""
    kind = table.string("type", required=True, plain=True)
    guard = table.guard
    if kind == "bearer":
        token = guard(lambda: table.secret("token", required=True))
        table.finish("bearer auth settings", ("type", "token"))
        return None if token is None else Bearer(token)
    if kind == "basic":
        username = guard(lambda: table.string("username", required=True, plain=True))
        password = guard(lambda: table.secret("password", required=True))
        table.finish("basic auth settings", ("type", "username", "password"))
        return None if username is None or password is None else Basic(username, password)
    if kind == "api_key":
        key = guard(lambda: table.secret("key", required=True))
        header = guard(lambda: table.header_name("header"))
        table.finish("api_key auth settings", ("type", "key", "header"))
        return None if key is None else ApiKey(key, header or "X-API-Key")
    if kind == "oauth2":
        return _oauth2(table)
    if kind == "oauth2_code":
        return _oauth2_code(table)
    raise table.error("type", f"unknown auth type {kind!r} ({', '.join(AUTH_TYPES)})")


def _oauth2(table: Table) -> Auth | None:
    known = (
        "type",
        "token_url",
        "client_id",
        "client_secret",
        "scope",
        "audience",
        "in_body",
        "refresh_margin",
    )
    before = len(table.mistakes)
    guard = table.guard
    token_url = guard(lambda: table.url("token_url", required=True))
    client_id = guard(lambda: table.string("client_id", required=True, plain=True))
    client_secret = guard(lambda: table.secret("client_secret", required=True))
    scope = guard(lambda: table.string("scope", plain=True))
    audience = guard(lambda: table.string("audience", plain=True))
    in_body = guard(lambda: table.boolean("in_body"))
    margin = guard(lambda: table.seconds("refresh_margin", positive=False))
    table.finish("oauth2 auth settings", known)
    if len(table.mistakes) > before:
        return None
    return OAuth2ClientCredentials(
        _present(token_url),
        _present(client_id),
        _present(client_secret),
        scope=scope,
        audience=audience,
        in_body=bool(in_body),
        refresh_margin=30.0 if margin is None else margin,
    )


def _oauth2_code(table: Table) -> Auth | None:
    """Each owner authorises the connection (`conveyor.accounts`); `scope` is space-separated."""
    # Here, not at the top: `conveyor.accounts` imports this package's auth module, and this
    # package's __init__ imports this module.
    from ..accounts.oauth import OAuth2AuthorizationCode

    known = (
        "type",
        "authorize_url",
        "token_url",
        "client_id",
        "client_secret",
        "scope",
        "redirect_url",
        "in_body",
        "refresh_margin",
    )
    before = len(table.mistakes)
    guard = table.guard
    authorize_url = guard(lambda: table.url("authorize_url", required=True))
    token_url = guard(lambda: table.url("token_url", required=True))
    client_id = guard(lambda: table.string("client_id", required=True, plain=True))
    client_secret = guard(lambda: table.secret("client_secret"))
    scope = guard(lambda: table.string("scope", plain=True))
    redirect_url = guard(lambda: table.url("redirect_url"))
    in_body = guard(lambda: table.boolean("in_body"))
    margin = guard(lambda: table.seconds("refresh_margin", positive=False))
    table.finish("oauth2_code auth settings", known)
    if len(table.mistakes) > before:
        return None
    return OAuth2AuthorizationCode(
        _present(authorize_url),
        _present(token_url),
        _present(client_id),
        client_secret,
        scopes=(scope or "").split(),
        redirect_url=redirect_url,
        in_body=bool(in_body),
        refresh_margin=60.0 if margin is None else margin,
    )


def _headers(table: Table) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name in list(table.data):
        value = table.guard(partial(_header, table, name))
        if value is not None:
            headers[name] = value
    return headers


def _header(table: Table, name: str) -> str:
    if not HEADER_NAME.match(name):
        table.take(name)
        raise table.error(name, "not a valid HTTP header name")
    value = table.string(name, required=True, plain=True)
    assert value is not None
    if "\r" in value or "\n" in value:
        raise table.error(name, "a header value cannot contain a line break")
    return value


def _breaker(table: Table) -> Breaker | bool | None:
    value = table.data.get("breaker")
    if value is None:
        return None
    if isinstance(value, bool):
        table.take("breaker")
        return value
    settings = table.table("breaker", expected="a table like { failures = 5 } or false")
    assert settings is not None
    default = Breaker()
    before = len(settings.mistakes)
    failures = settings.guard(lambda: settings.integer("failures", minimum=1))
    cool_off = settings.guard(lambda: settings.seconds("cool_off", positive=True))
    max_cool_off = settings.guard(lambda: settings.seconds("max_cool_off", positive=True))
    probe_timeout = settings.guard(lambda: settings.seconds("probe_timeout", positive=True))
    settings.finish("breaker settings", BREAKER_KEYS)
    if len(settings.mistakes) > before:
        return None
    cool = default.cool_off if cool_off is None else cool_off
    if max_cool_off is None:
        max_cool_off = max(default.max_cool_off, cool)
    elif max_cool_off < cool:
        raise settings.error("max_cool_off", f"must be at least cool_off ({cool:g} s)")
    return Breaker(
        failures=default.failures if failures is None else failures,
        cool_off=cool,
        max_cool_off=max_cool_off,
        probe_timeout=default.probe_timeout if probe_timeout is None else probe_timeout,
    )


def _bundle(table: Table) -> Bundle | None:
    """`bundle = { max_size = 50, max_wait = "50ms" }` (either key may be left out), or
    `bundle = true` for the defaults: the Python API's `Bundle`."""
    value = table.data.get("bundle")
    if value is None or isinstance(value, bool):
        table.take("bundle")
        return Bundle() if value else None
    settings = table.table("bundle", expected="a table like { max_size = 50, max_wait = '50ms' }")
    assert settings is not None
    default = Bundle()
    max_size = settings.guard(lambda: settings.integer("max_size", minimum=1))
    max_wait = settings.guard(lambda: settings.seconds("max_wait", positive=False))
    settings.finish("bundle settings", BUNDLE_KEYS)
    return Bundle(
        max_size=default.max_size if max_size is None else max_size,
        max_wait=default.max_wait if max_wait is None else max_wait,
    )


def _check(table: Table, check: str) -> str:
    method, _, path = check.strip().partition(" ")
    if method.upper() not in CHECK_METHODS or not path.strip().startswith("/"):
        raise table.error(
            "check", f"must be a method ({', '.join(CHECK_METHODS)}) and a path, like 'GET /me'"
        )
    return f"{method.upper()} {path.strip()}"


def _present(value: str | None) -> str:
    assert value is not None  # required keys are checked by the reader
    return value
