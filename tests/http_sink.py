"""A real HTTP server for tests: records requests, answers from a script, simulates OAuth2.

The server is aiohttp.web on 127.0.0.1 (a free port), in a background thread with its own event
loop, so the code under test talks real HTTP over a real socket, from any thread, process or loop.

Use it as a context manager::

    with Sink() as sink:
        sink.script("/hook", [Response(503, headers={"Retry-After": "1"}), Response(200)])
        deliver(sink.url + "/hook")
        assert [r.path for r in sink.requests] == ["/hook", "/hook"]

or as the pytest fixture ``sink`` (a fresh server per test). Import the fixture into a test
module with either of::

    from tests.http_sink import sink_fixture  # noqa: F401   (the fixture is named "sink")
    pytest_plugins = ["tests.http_sink"]

API summary
-----------
``Sink.url``                      base URL, ``http://127.0.0.1:<port>`` (``sink.url_for(path)``)
``Sink.requests``                 snapshot list of :class:`Request`, in arrival order
``Sink.requests_to(path)``        the same, for one path
``Sink.wait_for(n, path=None)``   block until ``n`` requests (to ``path``) arrived; returns them
``Sink.clear()``                  forget the recorded requests
``Sink.script(path, [...])``      successive requests to ``path`` get these responses, in order
                                  (replaces the previous script of ``path``)
``Sink.default(path, resp)``      answer for ``path`` once its script is used up
                                  (``path="*"``: every path without a default of its own);
                                  the built-in default is 200 ``{"ok": true}``
``Sink.oauth(...)``               an OAuth2 client-credentials token endpoint (RFC 6749 4.4)
``Sink.protect(*paths)``          these paths (``"*"``: all but the token endpoint) answer 401
                                  unless ``Authorization: Bearer <current token>``
``Sink.expire_token()``           revoke the current token (protected paths answer 401 until a
                                  new one is fetched)
``Sink.tokens_issued``            how many tokens the endpoint issued (``tok-1``, ``tok-2``, ...)
``Sink.current_token``            the latest token, or None

:class:`Response` is ``Response(status=200, json=..., text=..., body=..., headers={...},
delay=0.0)``: give at most one of json/text/body (none: empty body); ``delay`` seconds pass
before the answer (to exercise client timeouts).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json as jsonlib
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

__all__ = ["Request", "Response", "Sink", "sink_fixture"]

ANY_PATH = "*"
_UNSET: Any = object()


@dataclass(frozen=True)
class Response:
    """A scripted answer. At most one of json / text / body; none means an empty body."""

    status: int = 200
    json: Any = _UNSET
    text: str | None = None
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def __post_init__(self) -> None:
        given = sum(x is not None for x in (self.text, self.body)) + (self.json is not _UNSET)
        if given > 1:
            raise ValueError("give at most one of json, text, body")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")

    def encode(self) -> tuple[bytes, str | None]:
        """The body bytes and the content type to send (None: leave it to headers / none)."""
        if self.json is not _UNSET:
            return jsonlib.dumps(self.json).encode(), "application/json"
        if self.text is not None:
            return self.text.encode(), "text/plain; charset=utf-8"
        return self.body or b"", None


DEFAULT_RESPONSE = Response(200, json={"ok": True})


@dataclass(frozen=True)
class Request:
    """One request as the sink received it."""

    method: str
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]  # case-insensitive
    body: bytes
    json: Any  # the body parsed as JSON, or None when it is empty or not JSON
    received_at: float  # time.time()
    received_monotonic: float  # time.monotonic(), to measure gaps between requests
    status: int = 0  # what the sink answered (0 when it never answered, e.g. still delaying)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def form(self) -> dict[str, str]:
        """The body parsed as application/x-www-form-urlencoded (last value wins)."""
        return dict(parse_qsl(self.text, keep_blank_values=True))


@dataclass
class _OAuth:
    path: str
    client_id: str
    client_secret: str
    expires_in: int | None
    scope: str | None
    current: str | None = None
    issued_at: float = 0.0
    revoked: bool = False


class Sink:
    """A real HTTP server on 127.0.0.1 in a background thread. See the module docstring."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Condition()
        self._requests: list[Request] = []
        self._scripts: dict[str, deque[Response]] = {}
        self._defaults: dict[str, Response] = {}
        self._protected: set[str] = set()
        self._oauth: _OAuth | None = None
        self._tokens_issued = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sink:
        if self._thread is not None:
            raise RuntimeError("sink already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup(sock))
            except BaseException as error:  # reported to start()
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name=f"http-sink-{self._port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError("the HTTP sink did not start") from failure[0]
        return self

    async def _setup(self, sock: socket.socket) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that gives up (timeout) cancels its delayed answer.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=0.5,
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        thread, loop, runner = self._thread, self._loop, self._runner
        if thread is None or loop is None:
            return
        if runner is not None:
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), loop)
            with contextlib.suppress(Exception):  # stopping must not hide the test's failure
                future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses and records -----------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("sink not started")
        return f"http://{self._host}:{self._port}"

    def url_for(self, path: str) -> str:
        return self.url + _check_path(path)

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[Request]:
        """Block until at least `count` requests (to `path`) were received; return them."""

        def matching() -> list[Request]:
            return [r for r in self._requests if path is None or r.path == path]

        with self._lock:
            if not self._lock.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                got = len(matching())
                raise TimeoutError(
                    f"{got} of {count} requests{f' to {path}' if path else ''} after {timeout} s"
                )
            return matching()

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # --- scripting -----------------------------------------------------------------------------

    def script(self, path: str, responses: Iterable[Response]) -> None:
        """Successive requests to `path` get these responses, then the default for `path`."""
        with self._lock:
            self._scripts[_check_path(path)] = deque(responses)

    def default(self, path: str, response: Response) -> None:
        """The answer for `path` once its script is used up; `path="*"` for every path."""
        with self._lock:
            self._defaults[path if path == ANY_PATH else _check_path(path)] = response

    def pending(self, path: str) -> int:
        """How many scripted responses for `path` are still unused."""
        with self._lock:
            return len(self._scripts.get(path, ()))

    # --- OAuth2 client credentials -------------------------------------------------------------

    def oauth(
        self,
        path: str = "/oauth/token",
        *,
        client_id: str = "client",
        client_secret: str = "secret",
        expires_in: int | None = 3600,
        scope: str | None = None,
        protect: Iterable[str] = (),
    ) -> str:
        """Serve a client-credentials token endpoint at `path`; return its URL.

        Client authentication per RFC 6749 2.3.1: HTTP Basic (form-urlencoded id and secret)
        or `client_id` / `client_secret` form fields, not both. Tokens are `tok-1`, `tok-2`, ...;
        only the latest is accepted, until it expires (`expires_in` seconds; None: never) or
        `expire_token()` revokes it. A script for `path` overrides the endpoint (to simulate
        its failures). `protect` is passed to `protect()`.
        """
        with self._lock:
            self._oauth = _OAuth(_check_path(path), client_id, client_secret, expires_in, scope)
        self.protect(*protect)
        return self.url_for(path)

    def protect(self, *paths: str) -> None:
        """Require `Authorization: Bearer <current token>` on these paths ("*": all paths)."""
        with self._lock:
            self._protected.update(p if p == ANY_PATH else _check_path(p) for p in paths)

    def expire_token(self) -> None:
        """Revoke the current token: protected paths answer 401 until a new one is issued."""
        with self._lock:
            if self._oauth is not None:
                self._oauth.revoked = True

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    @property
    def current_token(self) -> str | None:
        with self._lock:
            return self._oauth.current if self._oauth else None

    # --- the server side (runs in the sink's thread) -------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            index = len(self._requests)
            self._requests.append(_record(request, body))
            response = self._choose(request, body)
            self._lock.notify_all()
        if response.delay:
            await asyncio.sleep(response.delay)
        data, content_type = response.encode()
        headers = CIMultiDict(response.headers)
        if content_type and "Content-Type" not in headers:
            headers["Content-Type"] = content_type
        with self._lock:
            record = self._requests[index]
            self._requests[index] = replace(record, status=response.status)
        return web.Response(status=response.status, body=data, headers=headers)

    def _choose(self, request: web.Request, body: bytes) -> Response:
        """The answer to this request (called with the lock held)."""
        path = request.path
        script = self._scripts.get(path)
        oauth = self._oauth
        if oauth is not None and path == oauth.path:
            return script.popleft() if script else self._issue_token(oauth, request, body)
        if self._is_protected(path):
            refusal = self._check_bearer(request.headers.get("Authorization"))
            if refusal is not None:
                return refusal
        if script:
            return script.popleft()
        return self._defaults.get(path) or self._defaults.get(ANY_PATH) or DEFAULT_RESPONSE

    def _is_protected(self, path: str) -> bool:
        return path in self._protected or ANY_PATH in self._protected

    def _check_bearer(self, authorization: str | None) -> Response | None:
        oauth = self._oauth
        scheme, _, token = (authorization or "").partition(" ")
        if not authorization or scheme.lower() != "bearer":
            return Response(401, json={"error": "unauthorized"}, headers=_bearer_challenge())
        valid = (
            oauth is not None
            and oauth.current is not None
            and token.strip() == oauth.current
            and not oauth.revoked
            and (oauth.expires_in is None or time.monotonic() < oauth.issued_at + oauth.expires_in)
        )
        if valid:
            return None
        return Response(
            401, json={"error": "invalid_token"}, headers=_bearer_challenge("invalid_token")
        )

    def _issue_token(self, oauth: _OAuth, request: web.Request, body: bytes) -> Response:
        if request.method != "POST":
            return Response(405, json={"error": "invalid_request"}, headers={"Allow": "POST"})
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        authorization = request.headers.get("Authorization")
        basic = _basic_credentials(authorization)
        in_form = "client_id" in form or "client_secret" in form
        if authorization and basic is None:
            return _oauth_error(401, "invalid_client", "malformed Authorization header", True)
        if basic is not None and in_form:
            return _oauth_error(400, "invalid_request", "more than one client authentication")
        credentials = basic or (form.get("client_id"), form.get("client_secret"))
        if credentials != (oauth.client_id, oauth.client_secret):
            return _oauth_error(401, "invalid_client", "unknown client", basic is not None)
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", grant_type)
        self._tokens_issued += 1
        oauth.current = f"tok-{self._tokens_issued}"
        oauth.issued_at = time.monotonic()
        oauth.revoked = False
        payload: dict[str, Any] = {"access_token": oauth.current, "token_type": "Bearer"}
        if oauth.expires_in is not None:
            payload["expires_in"] = oauth.expires_in
        scope = form.get("scope") or oauth.scope
        if scope:
            payload["scope"] = scope
        return Response(200, json=payload, headers={"Cache-Control": "no-store"})


# --- helpers ------------------------------------------------------------------------------------


def _check_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    return path


def _record(request: web.Request, body: bytes) -> Request:
    parsed: Any = None
    if body:
        try:
            parsed = jsonlib.loads(body)
        except ValueError:
            parsed = None
    return Request(
        method=request.method,
        path=request.path,
        query=MultiDictProxy(MultiDict(request.query)),
        headers=CIMultiDictProxy(CIMultiDict(request.headers)),
        body=body,
        json=parsed,
        received_at=time.time(),
        received_monotonic=time.monotonic(),
    )


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, client_secret) from an RFC 6749 2.3.1 Basic header, or None."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(user), unquote_plus(password)


def _oauth_error(
    status: int, error: str, description: str, basic_challenge: bool = False
) -> Response:
    headers = {"Cache-Control": "no-store"}
    if basic_challenge:
        headers["WWW-Authenticate"] = 'Basic realm="sink"'
    return Response(
        status, json={"error": error, "error_description": description}, headers=headers
    )


def _bearer_challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="sink"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": value}


@pytest.fixture(name="sink")
def sink_fixture() -> Iterator[Sink]:
    """A fresh, started HTTP sink; stopped after the test."""
    with Sink() as server:
        yield server
