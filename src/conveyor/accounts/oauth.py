"""OAuth2 authorization code with PKCE (RFC 6749 §4.1, RFC 7636): the auth kind a connection
declares when each owner authorises it, and the two token-endpoint calls it makes.

The connection holds what the provider gave the application (endpoints, client id and secret,
scopes, the redirect URL registered with it); each owner's tokens are accounts
(`conveyor.accounts`). A request on such a connection names its owner: `request(..., owner=)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..connections.auth import Auth, post_token_form
from ..connections.http import HttpClient, Timeouts
from ..connections.secrets import Secret
from ..errors import ConfigurationError
from .core import Failed, Refused, TokenGrant, read_token_answer


class OAuth2AuthorizationCode(Auth):
    """Each owner authorises the application at `authorize_url` (`GET /oauth/<connection>/start
    ?owner=X`); tokens come from `token_url`. `redirect_url` is the callback registered with the
    provider (`https://host/oauth/<connection>/callback`; None: derived from the request). The
    client authenticates with HTTP basic, or in the form with `in_body=True`; a public client
    (PKCE alone) has no `client_secret`. Tokens are refreshed `refresh_margin` seconds before
    they expire."""

    refreshable = True

    def __init__(
        self,
        authorize_url: str,
        token_url: str,
        client_id: str,
        client_secret: str | Secret | None = None,
        *,
        scopes: Sequence[str] = (),
        redirect_url: str | None = None,
        in_body: bool = False,
        refresh_margin: float = 60.0,
        authorize_params: dict[str, str] | None = None,
    ) -> None:
        for name, url in (("authorize_url", authorize_url), ("token_url", token_url)):
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(f"OAuth2 {name} must be an http(s) URL: {url!r}")
        if isinstance(scopes, str):
            raise ConfigurationError("OAuth2 scopes: give a list of scopes, not one string")
        self.authorize_url = authorize_url
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = None if client_secret is None else Secret(client_secret)
        self.scopes = tuple(scopes)
        self.redirect_url = redirect_url
        self.in_body = in_body
        self.refresh_margin = refresh_margin
        self.authorize_params = dict(authorize_params or {})

    async def headers(
        self, http: HttpClient, timeouts: Timeouts, *, stale: str | None = None
    ) -> dict[str, str]:
        raise ConfigurationError(
            f"{self.describe()} authenticates each owner: call with owner=... (the account"
            " whose tokens to use)"
        )

    def describe(self) -> str:
        return f"OAuth2 authorization code for {self.client_id!r} at {self.authorize_url}"

    async def exchange_code(
        self, http: HttpClient, timeouts: Timeouts, code: str, verifier: str, redirect_uri: str
    ) -> TokenGrant | Refused | Failed:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return await self._post(http, timeouts, form)

    async def refresh(
        self, http: HttpClient, timeouts: Timeouts, refresh_token: str
    ) -> TokenGrant | Refused | Failed:
        return await self._post(
            http, timeouts, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def _post(
        self, http: HttpClient, timeouts: Timeouts, form: dict[str, str]
    ) -> TokenGrant | Refused | Failed:
        response = await post_token_form(
            http, timeouts, self.token_url, form, self.client_id, self.client_secret, self.in_body
        )
        return read_token_answer(response.status, response.body)
