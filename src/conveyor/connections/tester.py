"""The connection tester: one check request, explained for a person."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConveyorError, DeliveryError

if TYPE_CHECKING:
    from .client import RemoteClient
    from .connection import Connection


@dataclass(frozen=True)
class ConnectionCheck:
    name: str
    ok: bool
    status: int | None
    latency_ms: float | None
    identity: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def check_connection(client: RemoteClient, conn: Connection) -> ConnectionCheck:
    """Call the connection's check request, bypassing its breaker and rate limit."""
    method, _, path = conn.check.partition(" ")
    headers: dict[str, str] = {"Accept": "application/json", **conn.headers}
    try:
        if conn.auth is not None:
            headers.update(await conn.auth.headers(client.http, conn.timeouts))
        response = await client.http.send(
            method.upper(), conn.url(path.strip()), headers=headers, timeouts=conn.timeouts
        )
    except DeliveryError as error:
        return ConnectionCheck(
            conn.name,
            False,
            error.status,
            error.details.get("latency_ms"),
            None,
            _explain_failure(str(error)),
        )
    except ConveyorError as error:
        return ConnectionCheck(conn.name, False, None, None, None, str(error))
    status, latency = response.status, round(response.latency_ms, 1)
    if status in (401, 403):
        word = "unauthorised" if status == 401 else "forbidden"
        return ConnectionCheck(
            conn.name,
            False,
            status,
            latency,
            None,
            f"{status} {word}: the remote refused the credentials",
        )
    if status >= 400:
        return ConnectionCheck(
            conn.name, False, status, latency, None, f"the check request failed with HTTP {status}"
        )
    identity = identity_in(response.body, conn.identity)
    return ConnectionCheck(conn.name, True, status, latency, identity, "ok")


def _explain_failure(text: str) -> str:
    lowered = text.lower()
    if (
        "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or ("temporary failure in name resolution" in lowered)
    ):
        return f"DNS lookup failed: {text}"
    if "timed out" in lowered:
        return f"timeout: {text}"
    if "cannot connect" in lowered:
        return f"connection failed: {text}"
    return text


def identity_in(body: bytes, path: str | None) -> str | None:
    """The account a check request authenticated as: the dotted `path` in its JSON answer, or
    a template of several (`"{company.name} ({company.id})"`); None if a field is missing."""
    if not path or not body:
        return None
    import json

    try:
        value: Any = json.loads(body)
    except ValueError:
        return None
    fields = _FIELD.findall(path)
    if not fields:
        return _dig(value, path)
    found = {field: _dig(value, field) for field in fields}
    if any(v is None for v in found.values()):
        return None
    return _FIELD.sub(lambda match: str(found[match.group(1)]), path)


_FIELD = re.compile(r"\{([^{}]+)\}")


def _dig(value: Any, path: str) -> str | None:
    for part in path.strip().split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return None if value is None else str(value)
