"""How a connection authenticates: bearer token, basic, API-key header, OAuth2 client credentials.

Every kind turns into request headers. OAuth2 tokens are fetched once, cached until shortly before
they expire, shared by every task of the process, and refreshed single-flight: however many jobs
need a new token at once, one request fetches it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

from ..errors import ConfigurationError, PermanentStatus, RetryableStatus
from .http import HttpClient, HttpResponse, Timeouts
from .secrets import Secret


class Auth:
    """Base of the auth kinds. `refreshable` kinds get one refresh and resend on a 401."""

    refreshable = False

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


class Bearer(Auth):
    def __init__(self, token: str | Secret) -> None:
        self.token = Secret(token)

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.reveal()}"}

    def describe(self) -> str:
        return f"bearer token {self.token!r}"


class Basic(Auth):
    def __init__(self, username: str, password: str | Secret) -> None:
        self.username = username
        self.password = Secret(password)

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        raw = f"{self.username}:{self.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def describe(self) -> str:
        return f"basic auth as {self.username!r}"


class ApiKey(Auth):
    """A key in a header, `X-API-Key` unless told otherwise."""

    def __init__(self, key: str | Secret, header: str = "X-API-Key") -> None:
        self.key = Secret(key)
        self.header = header

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        return {self.header: self.key.reveal()}

    def describe(self) -> str:
        return f"API key in {self.header}"


class OAuth2ClientCredentials(Auth):
    """RFC 6749 §4.4. The client authenticates with HTTP basic (or in the form, `in_body=True`)."""

    refreshable = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret,
        *,
        scope: str | None = None,
        audience: str | None = None,
        in_body: bool = False,
        refresh_margin: float = 30.0,
    ) -> None:
        if not token_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"OAuth2 token_url must be an http(s) URL: {token_url!r}")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = Secret(client_secret)
        self.scope = scope
        self.audience = audience
        self.in_body = in_body
        self.refresh_margin = refresh_margin
        self._token: str | None = None
        self._refresh_at = 0.0
        self._inflight: dict[asyncio.AbstractEventLoop, asyncio.Future[str]] = {}
        self.fetches = 0  # how many tokens this process fetched

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        token = self._token
        fresh = token is not None and time.time() < self._refresh_at
        if not fresh or (stale is not None and token == stale):
            token = await self._refresh(http, timeouts)
        return {"Authorization": f"Bearer {token}"}

    def current_token(self) -> str | None:
        return self._token

    async def _refresh(self, http: HttpClient, timeouts: Timeouts) -> str:
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(loop)
        if pending is None:
            pending = loop.create_future()
            self._inflight[loop] = pending
            try:
                pending.set_result(await self._fetch(http, timeouts))
            except BaseException as error:
                pending.set_exception(error)
                pending.exception()  # retrieved here: the waiters re-raise it
                raise
            finally:
                del self._inflight[loop]
            return pending.result()
        return await asyncio.shield(pending)

    async def _fetch(self, http: HttpClient, timeouts: Timeouts) -> str:
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        response = await post_token_form(
            http, timeouts, self.token_url, form, self.client_id, self.client_secret, self.in_body
        )
        details = {**response.details(), "response": "(token response withheld)"}
        if response.status >= 500 or response.status in (408, 429):
            raise RetryableStatus(f"OAuth2 token endpoint answered {response.status}", details)
        if response.status != 200:
            raise PermanentStatus(
                f"OAuth2 token endpoint refused the client credentials ({response.status})", details
            )
        try:
            data: dict[str, Any] = json.loads(response.body)
            token = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise PermanentStatus("OAuth2 token response has no access_token", details) from None
        lifetime = float(data.get("expires_in") or 3600)
        self._token = token
        # Refresh `refresh_margin` before expiry, or halfway through a shorter-lived token.
        self._refresh_at = time.time() + lifetime - min(self.refresh_margin, lifetime / 2)
        self.fetches += 1
        return token

    def describe(self) -> str:
        return f"OAuth2 client credentials for {self.client_id!r} at {self.token_url}"


async def post_token_form(
    http: HttpClient,
    timeouts: Timeouts,
    token_url: str,
    form: dict[str, str],
    client_id: str,
    client_secret: Secret | None,
    in_body: bool,
) -> HttpResponse:
    """POST a token request (RFC 6749), the client authenticated with HTTP Basic, or in the
    form when `in_body` (or as a public client, without a secret)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if client_secret is None or in_body:
        form["client_id"] = client_id
        if client_secret is not None:
            form["client_secret"] = client_secret.reveal()
    else:
        raw = f"{client_id}:{client_secret.reveal()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return await http.send(
        "POST", token_url, headers=headers, body=urlencode(form).encode(), timeouts=timeouts
    )
