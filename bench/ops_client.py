"""The operations benchmark's HTTP client: logged in to the dashboard as a browser is, the
bearer token for the API, and a poller requesting every path once a second."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence

import aiohttp

SESSION_COOKIE = "conveyor_session"  # conveyor.web.dashboard.session.COOKIE
LOGIN_COOKIE = "conveyor_login"  # conveyor.web.dashboard.session.LOGIN_COOKIE


async def log_in(session: aiohttp.ClientSession, token: str) -> str:
    """The dashboard's session cookie, got as a browser gets it: the login form first (its
    login-CSRF field and the pre-session cookie it matches), then the form posted with the
    token, the signed cookie read off the 303."""
    async with session.get("/dashboard/login") as answer:
        page = await answer.text()
        pre = answer.cookies.get(LOGIN_COOKIE)
        field = re.search(r'name="csrf" value="([^"]+)"', page)
        if answer.status != 200 or pre is None or field is None:
            raise RuntimeError(f"dashboard login form: HTTP {answer.status}, no CSRF field")
    form = {"token": token, "next": "/dashboard/", "csrf": field.group(1)}
    headers = {"Cookie": f"{LOGIN_COOKIE}={pre.value}"}  # no cookie jar for a bare IP
    async with session.post(
        "/dashboard/login", data=form, headers=headers, allow_redirects=False
    ) as answer:
        await answer.read()
        cookie = answer.cookies.get(SESSION_COOKIE)
        if answer.status != 303 or cookie is None:
            raise RuntimeError(f"dashboard login failed: HTTP {answer.status}")
        return cookie.value


async def client(base: str, token: str) -> aiohttp.ClientSession:
    """One keep-alive session carrying the bearer token (the API) and the dashboard's session
    cookie, sent as a header: aiohttp's cookie jar keeps none from a bare IP address."""
    session = aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"})
    try:
        cookie = await log_in(session, token)
    except BaseException:
        await session.close()
        raise
    session.headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    return session


class Poller:
    """A client requesting every path once a second, in a thread, until stopped; clearing
    `active` pauses it between rounds (the interleaved measurement switches it on and off)."""

    def __init__(self, base: str, token: str, paths: Sequence[str]) -> None:
        self.base, self.token, self.paths = base, token, list(paths)
        self.stop = threading.Event()
        self.active = threading.Event()
        self.active.set()
        self.requests = 0
        self.client_cpu = 0.0  # this thread's CPU seconds: the client's own cost
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        async with await client(self.base, self.token) as session:
            while not self.stop.is_set():
                if not self.active.is_set():
                    await asyncio.sleep(0.05)
                    continue
                began, cpu = time.monotonic(), time.thread_time()
                for path in self.paths:
                    async with session.get(path) as answer:
                        await answer.read()
                    self.requests += 1
                self.client_cpu += time.thread_time() - cpu
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
