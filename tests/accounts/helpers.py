"""Helpers of the account tests: an owner's consent followed over real HTTP, the raw table."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psycopg

from conveyor import Conveyor
from conveyor.accounts import Account
from conveyor.store.sqlite import sqlite_path


async def consent(url: str) -> tuple[str, str]:
    """Follow the authorisation URL to the provider, which redirects back: (code, state)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=False) as response,
    ):
        assert response.status == 302, await response.text()
        location = response.headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return query["code"], query["state"]


def authorise(app: Conveyor, owner: str, connection: str = "bank") -> Account:
    """The whole authorisation-code flow of one owner, through app.accounts."""

    async def flow() -> Account:
        try:
            url = await app.accounts.start_authorization(
                connection, owner, "http://127.0.0.1:1/oauth/bank/callback"
            )
            code, state = await consent(url)
            return await app.accounts.finish_authorization(connection, code, state)
        finally:
            await app.close_remote()

    return asyncio.run(flow())


def call_me(app: Conveyor, owner: str, connection: str = "bank") -> Any:
    """GET /me on behalf of `owner`, through the app's connection client."""

    async def call() -> Any:
        try:
            response = await app.remote().request(connection, "GET", "/me", owner=owner)
            return response.json()
        finally:
            await app.close_remote()

    return asyncio.run(call())


def raw_rows(url: str) -> list[str]:
    """Every account and pending-authorisation row, each as one text: what a dump would show."""
    queries = ("SELECT * FROM conveyor_accounts", "SELECT * FROM conveyor_oauth_states")
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            return [repr(tuple(row)) for q in queries for row in conn.execute(q).fetchall()]
    with psycopg.connect(url) as pg:
        return [repr(tuple(row)) for q in queries for row in pg.execute(q).fetchall()]
