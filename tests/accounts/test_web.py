"""The OAuth routes on a real uvicorn server (a free port, its own thread) and a real HTTP
client: start redirects to the provider, the provider redirects to the callback, the tokens
are stored; a replayed, unknown or expired state is a 400. Both backends."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import uvicorn
from fastapi import Depends, HTTPException, Request

from conveyor import Conveyor
from conveyor.web import create_app

from .helpers import call_me
from .provider import Provider


class Server:
    def __init__(self, app: Conveyor, **options: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(app, **options),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def web(bank: Conveyor) -> Iterator[Server]:
    with Server(bank) as server:
        yield server


async def get(url: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(url, allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.text()


def test_start_redirects_to_the_provider_and_the_callback_stores_the_tokens(
    bank: Conveyor, provider: Provider, web: Server
) -> None:
    status, headers, _ = asyncio.run(get(f"{web.url}/oauth/bank/start?owner=alice"))
    assert status == 302
    to_provider = headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(to_provider).query).items()}
    assert to_provider.startswith(f"{provider.url}/authorize?")
    assert query["redirect_uri"] == f"{web.url}/oauth/bank/callback"
    assert (query["response_type"], query["code_challenge_method"], query["scope"]) == (
        "code",
        "S256",
        "read",
    )
    assert query["client_id"] == provider.client_id and query["state"]
    status, headers, _ = asyncio.run(get(to_provider))  # the owner consents
    assert status == 302
    callback = headers["Location"]
    assert callback.startswith(f"{web.url}/oauth/bank/callback?code=")
    status, _, body = asyncio.run(get(callback))
    assert (status, body) == (200, '{"connected":true,"connection":"bank","owner":"alice"}')
    [account] = bank.list_accounts()
    assert (account.owner, account.kind, account.state) == ("alice", "oauth", "active")
    assert call_me(bank, "alice") == {"user": "alice"}
    status, _, body = asyncio.run(get(callback))  # replayed
    assert status == 400 and "unknown or already used OAuth state" in body
    assert provider.code_exchanges == 1  # the replay never reached the provider


def test_bad_callbacks_are_400_with_one_json_error(
    bank: Conveyor, provider: Provider, web: Server
) -> None:
    status, _, body = asyncio.run(get(f"{web.url}/oauth/bank/callback?code=c&state=forged"))
    assert (status, body) == (
        400,
        '{"error":"unknown or already used OAuth state: start the authorisation again"}',
    )
    status, _, body = asyncio.run(get(f"{web.url}/oauth/bank/callback?error=access_denied"))
    assert (status, body) == (400, '{"error":"the provider did not authorise (access_denied)"}')
    bank.accounts.authorization_ttl = -1
    _, headers, _ = asyncio.run(get(f"{web.url}/oauth/bank/start?owner=alice"))
    _, headers, _ = asyncio.run(get(headers["Location"]))
    status, _, body = asyncio.run(get(headers["Location"]))
    assert status == 400 and "the authorisation expired" in body
    status, _, body = asyncio.run(get(f"{web.url}/oauth/nope/start?owner=alice"))
    assert status == 404 and "unknown connection 'nope'" in body
    assert bank.list_accounts() == []


def test_conveyor_imports_without_fastapi() -> None:
    """The web extra is optional: with FastAPI unimportable, `conveyor` and its accounts load."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None\n"
        "import conveyor, conveyor.accounts, conveyor.cli\n"
        "try:\n    import conveyor.web\nexcept ImportError:\n    print('no web')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "no web\n"), result.stderr


def test_the_routes_take_the_applications_own_guard(bank: Conveyor, provider: Provider) -> None:
    def require_login(request: Request) -> None:
        if request.headers.get("X-User") != request.query_params.get("owner"):
            raise HTTPException(403, "not this owner")

    with Server(bank, dependencies=[Depends(require_login)]) as server:

        async def start(user: str) -> int:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"{server.url}/oauth/bank/start?owner=alice",
                    headers={"X-User": user},
                    allow_redirects=False,
                ) as response,
            ):
                return response.status

        assert asyncio.run(start("mallory")) == 403
        assert asyncio.run(start("alice")) == 302
