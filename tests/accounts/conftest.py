"""The OAuth provider stand-in, a secret key, and an app with a connection to the provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor import Conveyor, OAuth2AuthorizationCode
from conveyor.accounts import generate_key

from .provider import Provider

KEY = generate_key()


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider().start()
    yield server
    server.stop()


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CONVEYOR_SECRET_KEY", KEY)
    return KEY


def bank_auth(provider: Provider, **options: object) -> OAuth2AuthorizationCode:
    return OAuth2AuthorizationCode(
        authorize_url=f"{provider.url}/authorize",
        token_url=f"{provider.url}/token",
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        scopes=["read"],
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def bank(app: Conveyor, provider: Provider, secret_key: str) -> Conveyor:
    """`app` with the connection "bank": the provider's API, its owners over OAuth."""
    app.connection("bank", f"{provider.url}/api/", auth=bank_auth(provider), check="GET /me")
    return app
