"""JSON-RPC 2.0 and XML-RPC calls to a connection, and how their answers are classified.

Every call goes through `RemoteClient.request`, so the connection's breaker, rate limit, auth,
idempotency key, signature and HTTP classification apply as for a delivery. On top of that, the
answer's RPC layer is classified:

JSON-RPC error objects (`RpcError.details` has `code`, `message`, `data`):
    -32603 internal error, -32000..-32099 server errors  → RetryableRpcError (retried by policy)
    -32700 parse error, -32600 invalid request, -32601 method not found, -32602 invalid params,
    and every application-defined code                    → PermanentRpcError (dead at once)
XML-RPC faults (`code` is the faultCode, `message` the faultString):
    permanent, like any application error (Odoo's access errors, validation errors, missing
    models...: retrying does not change the answer, and Odoo already retries its own
    serialisation failures); except the interoperability codes that mean the server, not the
    call, failed: -32603, -32000..-32099 and -32300 (transport error) → retried.
An HTTP error status whose body is an RPC error (some servers answer 500 + `-32601`) is
classified by the RPC code, unless the status is 408, 425, 429 or 503 (the remote asks us to
slow down: retried, honouring Retry-After). A 200 that is not a well-formed answer (not JSON/XML,
no `result`, another request's `id`) raises RpcProtocolError, retried by the task's policy: a
gateway's maintenance page is the usual cause. The breaker sees HTTP only: an RPC error in a 200
answer counts as a healthy remote.

Secrets: any `Secret` inside `params` is revealed only to build the request body, and its value is
masked (`***`) in the message, details and chained errors of whatever the call raises: a server
that echoes the request (a fault string, an error page) cannot put a password in a job record or
a log line. `odoo_execute_kw` passes its password that way. A queued Odoo call stores only an
`env:NAME` reference to the password (`RpcCall.odoo`), never the password itself (`masking`).
The built-in `conveyor.rpc` task and its payload are in `rpc_jobs`.
"""

from __future__ import annotations

import itertools
import json
import xmlrpc.client
from collections.abc import Callable
from typing import Any

from ..errors import (
    ConfigurationError,
    DeliveryError,
    Discard,
    PermanentStatus,
    Retry,
    RetryableStatus,
)
from .client import RemoteClient
from .http import EXCERPT_BYTES, HttpResponse
from .masking import masking
from .secrets import Secret

ODOO_OBJECT_PATH = "/xmlrpc/2/object"
SLOW_DOWN_STATUSES = frozenset({408, 425, 429, 503})

_ids = itertools.count(1)


# -- errors ---------------------------------------------------------------------------------


class RpcError(DeliveryError):
    """The remote answered, but not with a result. `details`: the HTTP details (status, latency,
    method, url, response excerpt) plus `rpc_protocol`, `rpc_method`, `code`, `message`, `data`.
    Raised as is only through a subclass."""

    @property
    def code(self) -> Any:
        return self.details.get("code")

    @property
    def rpc_message(self) -> str | None:
        value = self.details.get("message")
        return None if value is None else str(value)

    @property
    def data(self) -> Any:
        return self.details.get("data")


class RetryableRpcError(RpcError, Retry):
    """A server-side RPC failure (-32603, -32000..-32099): retried."""

    def __init__(
        self, message: str, details: dict[str, Any] | None = None, after: float | None = None
    ) -> None:
        DeliveryError.__init__(self, message, details)
        self.after = after
        self.reason = message


class PermanentRpcError(RpcError, Discard):
    """A call the remote refuses (bad method, bad params, an application error, an XML-RPC
    fault): the job goes dead at once."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        DeliveryError.__init__(self, message, details)
        self.reason = message


class RpcProtocolError(RpcError):
    """The answer is not a well-formed RPC response: retried by the task's policy."""


def is_retryable_code(code: Any, protocol: str = "jsonrpc") -> bool:
    """Whether an RPC error code means "the server failed, try again" (see the module doc)."""
    if isinstance(code, bool) or not isinstance(code, int):
        return False
    if code == -32603 or -32099 <= code <= -32000:
        return True
    return protocol == "xmlrpc" and code == -32300


def rpc_error(
    protocol: str,
    method: str,
    code: Any,
    message: Any,
    data: Any,
    http: dict[str, Any],
    after: float | None = None,
) -> RpcError:
    """The exception for an RPC-level error, classified by its code."""
    kind = "JSON-RPC error" if protocol == "jsonrpc" else "XML-RPC fault"
    text = _clip(str(message)) if message is not None else ""
    details = {
        **http,
        "rpc_protocol": protocol,
        "rpc_method": method,
        "code": code,
        "message": text,
        "data": _clip_json(data),
    }
    where = f"{http.get('method', 'POST')} {http.get('url', '')}".strip()
    summary = f"{kind} {code} from {where} ({method}): {text}"
    if is_retryable_code(code, protocol):
        return RetryableRpcError(summary, details, after=after)
    return PermanentRpcError(summary, details)


# -- JSON-RPC -------------------------------------------------------------------------------


async def call_jsonrpc(
    client: RemoteClient,
    connection: str,
    method: str,
    params: list[Any] | dict[str, Any],
    *,
    path: str = "/",
    idempotency_key: str | None = None,
) -> Any:
    """Call `method` with JSON-RPC 2.0 and return its `result`. Raises RetryableRpcError,
    PermanentRpcError, RpcProtocolError, or what `RemoteClient.request` raises (Postpone,
    RemoteUnavailable, RetryableStatus, PermanentStatus)."""
    if not isinstance(params, list | tuple | dict):
        raise ConfigurationError("JSON-RPC params must be a list or an object")
    request_id = next(_ids)
    with masking(params) as plain:
        envelope = {"jsonrpc": "2.0", "method": method, "params": plain, "id": request_id}
        try:
            response = await client.request(
                connection, "POST", path, json_body=envelope, idempotency_key=idempotency_key
            )
        except (RetryableStatus, PermanentStatus) as error:
            raise _from_http_error(error, "jsonrpc", method, _jsonrpc_error_text) from None
        return _jsonrpc_result(response, method, request_id)


def _jsonrpc_result(response: HttpResponse, method: str, request_id: int) -> Any:
    http = response.details()
    answer = _jsonrpc_answer(response)
    if answer is None:
        raise _malformed("jsonrpc", method, http, "the answer is not a JSON-RPC response")
    error = _jsonrpc_error(answer)
    if error is not None:
        code, message, data = error
        raise rpc_error("jsonrpc", method, code, message, data, http)
    if answer.get("error") is not None:
        raise _malformed("jsonrpc", method, http, "malformed JSON-RPC error object")
    if "result" not in answer:
        raise _malformed("jsonrpc", method, http, "the answer has neither result nor error")
    if answer.get("id") != request_id and str(answer.get("id")) != str(request_id):
        raise _malformed(
            "jsonrpc", method, http, f"answer for id {answer.get('id')!r}, not {request_id}"
        )
    return answer["result"]


def _jsonrpc_answer(response: HttpResponse) -> dict[str, Any] | None:
    if not 200 <= response.status < 300:
        return None
    try:
        answer = json.loads(response.body)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _jsonrpc_error_text(text: str) -> tuple[Any, Any, Any] | None:
    try:
        return _jsonrpc_error(json.loads(text))
    except ValueError:
        return None


def _jsonrpc_error(answer: Any) -> tuple[Any, Any, Any] | None:
    """(code, message, data) of a JSON-RPC error answer, or None."""
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if not isinstance(error, dict) or "code" not in error:
        return None
    return error["code"], error.get("message"), error.get("data")


# -- XML-RPC --------------------------------------------------------------------------------


async def call_xmlrpc(
    client: RemoteClient,
    connection: str,
    method: str,
    params: list[Any],
    *,
    path: str = "/RPC2",
    idempotency_key: str | None = None,
) -> Any:
    """Call `method` with XML-RPC and return its result. Raises PermanentRpcError (a fault, or
    params XML-RPC cannot carry), RetryableRpcError, RpcProtocolError, or what
    `RemoteClient.request` raises."""
    if not isinstance(params, list | tuple):
        raise ConfigurationError("XML-RPC params must be a list")
    with masking(list(params)) as plain:
        body = _marshal(method, plain)
        try:
            response = await client.request(
                connection,
                "POST",
                path,
                body=body,
                headers={"Content-Type": "text/xml", "Accept": "text/xml"},
                idempotency_key=idempotency_key,
            )
        except (RetryableStatus, PermanentStatus) as error:
            raise _from_http_error(error, "xmlrpc", method, _xmlrpc_fault_text) from None
        return _xmlrpc_result(response, method)


def _marshal(method: str, params: list[Any]) -> bytes:
    try:
        text = xmlrpc.client.dumps(tuple(params), methodname=method, allow_none=True)
    except (TypeError, OverflowError) as error:
        # The messages name a type or a limit, never a value.
        raise PermanentRpcError(
            f"cannot send {method} over XML-RPC: {error}",
            {"rpc_protocol": "xmlrpc", "rpc_method": method},
        ) from None
    return text.encode("utf-8")


def _xmlrpc_result(response: HttpResponse, method: str) -> Any:
    http = response.details()
    parsed = _xmlrpc_parse(response.body) if 200 <= response.status < 300 else None
    if isinstance(parsed, xmlrpc.client.Fault):
        code, message = parsed.faultCode, parsed.faultString
        raise rpc_error("xmlrpc", method, code, message, None, http)
    if parsed is None or len(parsed) != 1:
        raise _malformed("xmlrpc", method, http, "the answer is not an XML-RPC response")
    return parsed[0]


def _xmlrpc_parse(body: bytes) -> tuple[Any, ...] | xmlrpc.client.Fault | None:
    """The values of an XML-RPC answer, its Fault, or None if it is not one."""
    try:
        values, _ = xmlrpc.client.loads(body, use_builtin_types=True)
    except xmlrpc.client.Fault as fault:
        return fault
    except Exception:  # ExpatError, ResponseError, ValueError...: untrusted input
        return None
    return values


def _xmlrpc_fault_text(text: str) -> tuple[Any, Any, Any] | None:
    parsed = _xmlrpc_parse(text.encode("utf-8"))
    if isinstance(parsed, xmlrpc.client.Fault):
        return parsed.faultCode, parsed.faultString, None
    return None


# -- shared ---------------------------------------------------------------------------------


ErrorParser = Callable[[str], tuple[Any, Any, Any] | None]


def _from_http_error(
    error: RetryableStatus | PermanentStatus, protocol: str, method: str, parse: ErrorParser
) -> DeliveryError:
    """An HTTP error status whose body is an RPC error: classified by the RPC code (except for
    the statuses that ask us to slow down). Otherwise the HTTP error itself."""
    status = error.status
    excerpt = error.details.get("response")
    if status in SLOW_DOWN_STATUSES or not isinstance(excerpt, str) or excerpt.endswith("…"):
        return error
    found = parse(excerpt)
    if found is None:
        return error
    code, message, data = found
    after = error.after if isinstance(error, RetryableStatus) else None
    return rpc_error(protocol, method, code, message, data, error.details, after=after)


def _malformed(protocol: str, method: str, http: dict[str, Any], why: str) -> RpcProtocolError:
    where = f"{http.get('method', 'POST')} {http.get('url', '')}"
    details = {**http, "rpc_protocol": protocol, "rpc_method": method}
    return RpcProtocolError(f"HTTP {http.get('status')} from {where} ({method}): {why}", details)


def _clip(text: str) -> str:
    return text if len(text) <= EXCERPT_BYTES else text[:EXCERPT_BYTES] + "…"


def _clip_json(value: Any) -> Any:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return _clip(repr(value))
    return value if len(text) <= EXCERPT_BYTES else _clip(text)


# -- Odoo -----------------------------------------------------------------------------------


async def odoo_execute_kw(
    client: RemoteClient,
    connection: str,
    db: str,
    uid: int,
    password: str | Secret,
    model: str,
    method: str,
    args: list[Any],
    kwargs: dict[str, Any] | None = None,
    *,
    path: str = ODOO_OBJECT_PATH,
    idempotency_key: str | None = None,
) -> Any:
    """Odoo's external API: `execute_kw(db, uid, password, model, method, args, kwargs)` on
    `/xmlrpc/2/object`. `password` is a Secret, an `env:NAME` reference or the value; it never
    appears in what the call raises."""
    params = [db, uid, Secret(password), model, method, list(args), kwargs or {}]
    return await call_xmlrpc(
        client, connection, "execute_kw", params, path=path, idempotency_key=idempotency_key
    )
