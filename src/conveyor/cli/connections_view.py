"""The views of connections, circuit breakers, holds and connection checks: `connections list`,
`connections test`, and the breakers and holds of `stats`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich import box
from rich.table import Table
from rich.text import Text

from ..accounts.oauth import OAuth2AuthorizationCode
from ..breaker import BreakerRecord
from ..connections.auth import ApiKey, Auth, Basic, Bearer, OAuth2ClientCredentials
from ..connections.connection import Connection
from ..connections.masking import connection_secret_values, connection_secrets
from ..connections.secrets import Secret
from ..connections.tester import ConnectionCheck
from ..politeness import Hold
from ..ratelimit import RateLimit
from .render import Column, console, fitted_table, short_when, shorten

# -- connections and breakers -------------------------------------------------------------------
# Secrets are shown as their `env:NAME` reference or `***`, never resolved. Texts that came back
# from a remote or a failure (check messages, breaker errors) are also scrubbed of every secret
# value the declared connections resolve to, in case something echoed one.

REDACTED = "***"
MIN_REDACTED_LENGTH = 3  # shorter "secrets" would garble every message they appear in
BREAKER_STYLES = {"closed": "green", "half_open": "yellow", "open": "bold red"}


def secret_text(value: Secret | None) -> str | None:
    if value is None:
        return None
    reference = value.reference
    return f"env:{reference}" if reference else REDACTED


def safe_url(url: str) -> str:
    """The URL with any password in it and its query string masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def missing_env(connection: Connection) -> list[str]:
    """The environment variables this connection's secrets need that are not set."""
    names = (value.reference for value in connection_secrets(connection))
    return sorted({name for name in names if name and not os.environ.get(name)})


class Redactor:
    """Replaces every resolved secret value of some connections (and the forms they take in
    headers) by `***` in a text."""

    def __init__(self, connections: Iterable[Connection]) -> None:
        values: set[str] = set()
        for connection in connections:
            values.update(connection_secret_values(connection))
        self.values = sorted(
            (v for v in values if len(v) >= MIN_REDACTED_LENGTH), key=len, reverse=True
        )

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text


def auth_record(auth: Auth | None) -> dict[str, Any] | None:
    if auth is None:
        return None
    if isinstance(auth, Bearer):
        return {"type": "bearer", "token": secret_text(auth.token)}
    if isinstance(auth, Basic):
        return {"type": "basic", "username": auth.username, "password": secret_text(auth.password)}
    if isinstance(auth, ApiKey):
        return {"type": "api_key", "header": auth.header, "key": secret_text(auth.key)}
    if isinstance(auth, OAuth2ClientCredentials):
        return {
            "type": "oauth2",
            "token_url": safe_url(auth.token_url),
            "client_id": auth.client_id,
            "client_secret": secret_text(auth.client_secret),
            "scope": auth.scope,
            "audience": auth.audience,
        }
    if isinstance(auth, OAuth2AuthorizationCode):
        return {
            "type": "oauth2_code",
            "authorize_url": safe_url(auth.authorize_url),
            "token_url": safe_url(auth.token_url),
            "client_id": auth.client_id,
            "client_secret": None
            if auth.client_secret is None
            else secret_text(auth.client_secret),
            "scope": " ".join(auth.scopes) or None,
            "redirect_url": auth.redirect_url,
        }
    return {"type": type(auth).__name__}  # a custom kind: its attributes may be secrets


def rate_text(limit: RateLimit) -> str:
    """'5/s', '300/min' or '1000/h': the first unit that gives a whole count."""
    for unit, seconds in (("s", 1.0), ("min", 60.0), ("h", 3600.0)):
        count = limit.rate * seconds
        if count >= 1 and abs(count - round(count)) < 1e-6 * count:
            return f"{round(count)}/{unit}"
    return f"{limit.rate:.3g}/s"


def seconds_text(value: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def iso_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def breaker_state(record: BreakerRecord, redact: Redactor | None = None) -> dict[str, Any]:
    error = redact(record.last_error) if redact else record.last_error
    return {
        "name": record.name,
        "state": record.state,
        "failures": record.failures,
        "open_until": iso_time(record.open_until),
        "last_error": error,
    }


def hold_state(hold: Hold, redact: Redactor | None = None) -> dict[str, Any]:
    """A paused or slowed connection: why, and until when (None: until resumed)."""
    return {
        "name": hold.name,
        "hold": hold.kind,
        "until": iso_time(hold.until),
        "reason": redact(hold.reason) if redact else hold.reason,
        "strikes": hold.strikes,
        "since": iso_time(hold.updated_at),
    }


def connection_record(
    connection: Connection,
    record: BreakerRecord | None,
    redact: Redactor,
    hold: Hold | None = None,
) -> dict[str, Any]:
    """What `connections list` shows of one connection: no secret values, only references.
    `hold`: its pause or slow-down in force, if any."""
    limit = connection.rate_limit
    settings = connection.breaker
    state: dict[str, Any] | None = None
    if record is not None:
        state = breaker_state(record, redact)
        del state["name"]
    elif settings is not None:
        state = {"state": "closed", "failures": 0, "open_until": None, "last_error": None}
    return {
        "name": connection.name,
        "base_url": safe_url(connection.base_url),
        "auth": auth_record(connection.auth),
        "rate_limit": None
        if limit is None
        else {"spec": rate_text(limit), "per_second": limit.rate, "burst": limit.burst},
        "breaker": None
        if settings is None
        else {
            "failures": settings.failures,
            "cool_off": settings.cool_off,
            "max_cool_off": settings.max_cool_off,
        },
        "breaker_state": state,
        "hold": None
        if hold is None
        else {k: v for k, v in hold_state(hold, redact).items() if k != "name"},
        "timeouts": {"connect": connection.timeouts.connect, "read": connection.timeouts.read},
        "headers": sorted(connection.headers),
        "signing_secret": secret_text(connection.signing_secret),
        "check": connection.check,
        "identity": connection.identity,
        "missing_env": missing_env(connection),
    }


def auth_text(auth: Mapping[str, Any] | None) -> Text:
    if auth is None:
        return Text("none", style="dim")
    kind = auth["type"]
    parts: list[str] = [kind]
    if kind == "bearer":
        parts.append(auth["token"])
    elif kind == "basic":
        parts.append(f"{auth['username']} / {auth['password']}")
    elif kind == "api_key":
        parts.append(f"{auth['header']}: {auth['key']}")
    elif kind == "oauth2":
        parts.append(f"{auth['client_id']} / {auth['client_secret']}")
    elif kind == "oauth2_code":
        parts.append(f"{auth['client_id']} / {auth['client_secret'] or 'public'} (per owner)")
    return Text(" ".join(parts))


def missing_env_text(records: Sequence[Mapping[str, Any]]) -> Text | None:
    """`Not set here: SHOP_TOKEN (shop), ...`: the secrets a check or a job would fail on."""
    missing = [f"{name} ({r['name']})" for r in records for name in r["missing_env"]]
    if not missing:
        return None
    return Text(f"Not set in this environment: {', '.join(missing)}", style="yellow")


def state_cell(state: Mapping[str, Any] | None) -> Text:
    if state is None:
        return Text("-", style="dim")
    name = state["state"]
    text = Text(name, style=BREAKER_STYLES.get(name, ""))
    if name == "open" and state["open_until"]:
        until = datetime.fromisoformat(state["open_until"])
        text.append(f" until {until.astimezone(UTC).strftime('%H:%M:%S')}")
    if state["failures"]:
        noun = "failure" if state["failures"] == 1 else "failures"
        text.append(f" ({state['failures']} {noun})")
    return text


def connections_table(records: Sequence[Mapping[str, Any]], width: int | None = None) -> Table:
    """One line per connection, within the terminal's width: long values end in "…", and at
    narrow widths the breaker's settings, then Last error, then Auth are left out (`--json`
    has them all). Times in UTC."""
    columns = [
        Column("Name", [Text(r["name"]) for r in records], shrink_to=8),
        Column("Base URL", [Text(r["base_url"]) for r in records], shrink_to=16),
        Column("Auth", [auth_text(r["auth"]) for r in records], shrink_to=10, drop=1),
        Column("Rate limit", [_rate_cell(r["rate_limit"]) for r in records]),
        Column("Breaker", [_breaker_cell(r["breaker"]) for r in records], drop=3),
        Column("State", [state_cell(r["breaker_state"]) for r in records], shrink_to=20),
    ]
    if any(r.get("hold") for r in records):
        cells = [hold_cell(r.get("hold")) for r in records]
        columns.append(Column("Hold", cells, shrink_to=14))
    errors = [(r["breaker_state"] or {}).get("last_error") for r in records]
    if any(errors):
        cells = [Text(shorten(error, 60)) for error in errors]
        columns.append(Column("Last error", cells, shrink_to=12, drop=2))
    return fitted_table(
        columns,
        width or console().width,
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def hold_cell(hold: Mapping[str, Any] | None) -> Text:
    """`paused: HTTP 410 ...` or `slowed until 12:00:03: HTTP 429 ...`."""
    if not hold:
        return Text("-", style="dim")
    if hold["hold"] == "paused":
        text = Text("paused", style="bold red")
    else:
        text = Text("slowed", style="yellow")
        if hold["until"]:
            until = datetime.fromisoformat(hold["until"])
            text.append(f" until {until.astimezone(UTC).strftime('%H:%M:%S')}")
    text.append(f": {shorten(hold['reason'], 60)}")
    return text


def holds_table(holds: Sequence[Mapping[str, Any]], width: int | None = None) -> Table:
    def until(hold: Mapping[str, Any]) -> str:
        value = hold["until"]
        return short_when(datetime.fromisoformat(value)) if value else "until resumed"

    columns = [
        Column("Connection", [Text(h["name"]) for h in holds], shrink_to=10),
        Column(
            "Hold",
            [
                Text(h["hold"], style="bold red" if h["hold"] == "paused" else "yellow")
                for h in holds
            ],
        ),
        Column("Until (UTC)", [until(h) for h in holds]),
        Column("Reason", [Text(shorten(h["reason"], 70)) for h in holds], shrink_to=12),
    ]
    return fitted_table(
        columns,
        width or console().width,
        title="Paused and slowed connections",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def _rate_cell(limit: Mapping[str, Any] | None) -> str:
    return "-" if limit is None else f"{limit['spec']}, burst {limit['burst']}"


def _breaker_cell(settings: Mapping[str, Any] | None) -> str:
    if settings is None:
        return "off"
    cool_off = f"{seconds_text(settings['cool_off'])}→{seconds_text(settings['max_cool_off'])}"
    return f"{settings['failures']} failures, {cool_off}"


def breakers_table(states: Sequence[Mapping[str, Any]], width: int | None = None) -> Table:
    def until(state: Mapping[str, Any]) -> str:
        value = state["open_until"]
        return short_when(datetime.fromisoformat(value)) if value else "-"

    columns = [
        Column("Connection", [Text(s["name"]) for s in states], shrink_to=10),
        Column(
            "State",
            [Text(s["state"], style=BREAKER_STYLES.get(s["state"], "")) for s in states],
        ),
        Column("Failures", [str(s["failures"]) for s in states], justify="right"),
        Column("Until (UTC)", [until(s) for s in states]),
        Column("Last error", [Text(shorten(s["last_error"], 60)) for s in states], shrink_to=12),
    ]
    return fitted_table(
        columns,
        width or console().width,
        title="Circuit breakers",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def check_record(check: ConnectionCheck, redact: Redactor) -> dict[str, Any]:
    record = check.to_dict()
    record["message"] = redact(check.message)
    record["identity"] = redact(check.identity)
    return record


def check_text(record: Mapping[str, Any]) -> Text:
    """One line: `shop: ok, HTTP 200 in 12.3 ms, identity ACME` or `shop: failed, <why>`."""
    text = Text(f"{record['name']}: ")
    latency = record["latency_ms"]
    took = f"{latency:g} ms" if latency is not None else None
    if record["ok"]:
        text.append("ok", style="bold green")
        text.append(f", HTTP {record['status']}" + (f" in {took}" if took else ""))
        if record["identity"] is not None:
            text.append(f", identity {record['identity']}")
        return text
    text.append("failed", style="bold red")
    text.append(f", {record['message']}")
    if record["status"] is not None:
        text.append(f" (HTTP {record['status']}" + (f" in {took})" if took else ")"))
    elif took:
        text.append(f" (after {took})")
    return text
