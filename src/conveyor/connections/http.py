"""The HTTP layer: one pooled client per event loop, explicit timeouts, errors translated.

aiohttp is used because it measured faster than httpx here (`python -m bench.http_clients`,
figures in docs/benchmarks.md); nothing outside
this module touches it, so the choice can change without touching the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import ConfigurationError, RemoteUnavailable

EXCERPT_BYTES = 2000


@dataclass(frozen=True)
class Timeouts:
    """Seconds to connect and to wait for the response. Defaults: 5 s and 10 s."""

    connect: float = 5.0
    read: float = 10.0

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0:
            raise ConfigurationError("timeouts must be > 0 seconds")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    latency_ms: float
    url: str = ""
    method: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Applied to the excerpt (never to `body`): the connection's secrets, masked.
    mask: Callable[[str], str] | None = None

    def json(self) -> Any:
        import json

        return json.loads(self.body) if self.body else None

    def excerpt(self, limit: int = EXCERPT_BYTES) -> str:
        if self.mask is None:
            text = self.body[:limit].decode("utf-8", errors="replace")
        else:  # masked before it is cut, so that no secret is left half-shown at the cut
            text = self.mask(self.body[: limit + 512].decode("utf-8", errors="replace"))[:limit]
        return text + ("…" if len(self.body) > limit else "")

    def details(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "latency_ms": round(self.latency_ms, 2),
            "method": self.method,
            "url": self.url,
            "response": self.excerpt(),
        }


class HttpClient:
    """A pooled, keep-alive HTTP client bound to one event loop."""

    def __init__(self, limit: int = 100) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeouts: Timeouts | None = None,
    ) -> HttpResponse:
        limits = timeouts or Timeouts()
        timeout = aiohttp.ClientTimeout(
            total=None, connect=limits.connect, sock_connect=limits.connect, sock_read=limits.read
        )
        started = time.perf_counter()
        try:
            async with self._get_session().request(
                method,
                url,
                headers=dict(headers or {}),
                data=body,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return HttpResponse(
                    status=response.status,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    body=payload,
                    latency_ms=(time.perf_counter() - started) * 1000,
                    url=_display(url),
                    method=method,
                )
        except TimeoutError as error:
            raise _unavailable(
                f"timed out (connect {limits.connect:g} s, read {limits.read:g} s)",
                method,
                url,
                started,
            ) from error
        except aiohttp.ClientConnectorError as error:
            raise _unavailable(f"cannot connect: {error.os_error}", method, url, started) from error
        except aiohttp.ClientError as error:
            raise _unavailable(f"{type(error).__name__}: {error}", method, url, started) from error

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _display(url: str) -> str:
    """The URL without user info and query string (either may carry credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _unavailable(reason: str, method: str, url: str, started: float) -> RemoteUnavailable:
    details = {
        "status": None,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "method": method,
        "url": _display(url),
    }
    return RemoteUnavailable(f"{method} {_display(url)}: {reason}", details)
