"""An OAuth2 provider stand-in: a real HTTP server on 127.0.0.1, in a background thread.

``GET /authorize``  the owner's consent: answers 302 to ``redirect_uri`` with ``code`` and the
                    ``state`` it was given (the user who "logs in" is ``provider.user``). It
                    checks client_id, response_type=code and an S256 code challenge.
``POST /token``     ``authorization_code`` (the code once, its redirect_uri, and the PKCE
                    verifier against the challenge) and ``refresh_token`` grants; the client
                    authenticates with HTTP basic or in the form. A refresh rotates the
                    refresh token (the old one is then refused with ``invalid_grant``) unless
                    ``rotate=False``; ``revoke(user)`` refuses the user's refresh tokens.
                    ``refresh_delay`` slows each refresh (a window for other processes to wait);
                    ``fail_next_refresh = 503`` answers the next one with that status.
``GET /api/me``     the protected resource: ``{"user": ...}`` for a live access token, else 401.

Access tokens live ``expires_in`` seconds. ``refresh_requests`` counts refresh grants received,
across every client process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web


@dataclass
class _Code:
    user: str
    challenge: str
    redirect_uri: str
    used: bool = False


@dataclass
class _State:
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token: (user, expiry)
    refresh: dict[str, str] = field(default_factory=dict)  # live refresh token: user
    refresh_requests: int = 0
    api_calls: int = 0
    api_refusals: int = 0
    code_exchanges: int = 0
    serial: int = 0


class Provider:
    def __init__(
        self,
        *,
        client_id: str = "conveyor-app",
        client_secret: str = "app-secret",
        expires_in: int = 3600,
        rotate: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.expires_in = expires_in
        self.rotate = rotate
        self.user = "alice"
        self.refresh_delay = 0.0
        self.fail_next_refresh: int | None = None  # a status the next refresh answers with
        self._state = _State()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Provider:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._setup(sock))
            ready.set()
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="oauth-provider", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    async def _setup(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/api/me", self._me)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what the tests read and do -------------------------------------------------------------

    @property
    def refresh_requests(self) -> int:
        with self._lock:
            return self._state.refresh_requests

    @property
    def api_calls(self) -> int:
        with self._lock:
            return self._state.api_calls

    @property
    def api_refusals(self) -> int:
        """Calls to /api/me answered 401."""
        with self._lock:
            return self._state.api_refusals

    @property
    def code_exchanges(self) -> int:
        with self._lock:
            return self._state.code_exchanges

    def live_refresh_tokens(self, user: str) -> list[str]:
        with self._lock:
            return [token for token, owner in self._state.refresh.items() if owner == user]

    def issue(self, user: str) -> tuple[str, str]:
        """Tokens as if `user` had authorised already: (access token, refresh token)."""
        with self._lock:
            return self._issue(user)

    def revoke(self, user: str) -> None:
        """The user withdrew consent: their refresh tokens are refused (`invalid_grant`)."""
        with self._lock:
            for token in [t for t, owner in self._state.refresh.items() if owner == user]:
                del self._state.refresh[token]

    def expire_access(self, user: str) -> None:
        with self._lock:
            for token, (owner, _) in list(self._state.access.items()):
                if owner == user:
                    self._state.access[token] = (owner, 0.0)

    def _issue(self, user: str) -> tuple[str, str]:
        self._state.serial += 1
        n = self._state.serial
        access, refresh = f"at-{user}-{n}-{secrets.token_hex(4)}", f"rt-{user}-{n}"
        self._state.access[access] = (user, time.time() + self.expires_in)
        self._state.refresh[refresh] = user
        return access, refresh

    # -- endpoints ------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return web.json_response({"error": "invalid_request"}, status=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.json_response({"error": "invalid_request", "why": "PKCE S256"}, status=400)
        code = secrets.token_urlsafe(12)
        with self._lock:
            self._state.codes[code] = _Code(self.user, q["code_challenge"], q["redirect_uri"])
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        raise web.HTTPFound(target)

    def _client_ok(self, request: web.Request, form: dict[str, str]) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            given = base64.b64decode(header[6:]).decode()
            return given == f"{self.client_id}:{self.client_secret}"
        return (form.get("client_id"), form.get("client_secret")) == (
            self.client_id,
            self.client_secret,
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        fields = {k: str(v) for k, v in form.items()}
        if not self._client_ok(request, fields):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = fields.get("grant_type")
        if grant == "authorization_code":
            return self._exchange(fields)
        if grant == "refresh_token":
            with self._lock:
                self._state.refresh_requests += 1
            if self.refresh_delay:
                await asyncio.sleep(self.refresh_delay)
            failure, self.fail_next_refresh = self.fail_next_refresh, None
            if failure is not None:
                return web.json_response({"error": "temporarily_unavailable"}, status=failure)
            return self._refresh(fields)
        return web.json_response({"error": "unsupported_grant_type"}, status=400)

    def _exchange(self, form: dict[str, str]) -> web.Response:
        with self._lock:
            self._state.code_exchanges += 1
            code = self._state.codes.get(form.get("code", ""))
            if code is None or code.used or code.redirect_uri != form.get("redirect_uri"):
                return web.json_response({"error": "invalid_grant"}, status=400)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"},
                    status=400,
                )
            code.used = True
            access, refresh = self._issue(code.user)
        return self._grant(access, refresh)

    def _refresh(self, form: dict[str, str]) -> web.Response:
        with self._lock:
            user = self._state.refresh.get(form.get("refresh_token", ""))
            if user is None:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "refresh token revoked"},
                    status=400,
                )
            if self.rotate:
                del self._state.refresh[form["refresh_token"]]
                access, refresh = self._issue(user)
                return self._grant(access, refresh)
            access, _ = self._issue(user)
            return self._grant(access, None)

    def _grant(self, access: str, refresh: str | None) -> web.Response:
        body: dict[str, object] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": "read",
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return web.json_response(body)

    async def _me(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        with self._lock:
            found = self._state.access.get(header.removeprefix("Bearer "))
            self._state.api_calls += 1
            refused = found is None or found[1] <= time.time()
            self._state.api_refusals += refused
        if found is None or refused:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({"user": found[0]})
