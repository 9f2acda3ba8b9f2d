"""The app's connections: declared by name, found by name, called through one client per loop.

`app.connections` is a `ConnectionRegistry`, a read-only mapping of name to `Connection`. It
takes what the live side uses (the limits slice of the store, opened on first use, and an event
sink) rather than the app, and is the `ConnectionLookup` every part of this package is given.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import ConfigurationError, UnknownConnection
from ..types import EventSink, LimitStore, OwnerCredentials
from .auth import Auth
from .client import RemoteClient
from .connection import Connection, make_connection
from .tester import ConnectionCheck, check_connection


class ConnectionRegistry(Mapping[str, Connection]):
    """Every connection the app declared (in Python or from a config file, `sources` says
    which file), and the `RemoteClient` of each running event loop."""

    def __init__(self, limits: Callable[[], LimitStore], events: EventSink) -> None:
        self._connections: dict[str, Connection] = {}
        self.sources: dict[str, str] = {}  # name -> the config file that declared it
        self._limits = limits
        self._events = events
        self.owners: OwnerCredentials | None = None  # per-owner credentials: app.accounts
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RemoteClient] = (
            weakref.WeakKeyDictionary()
        )

    def __getitem__(self, name: str) -> Connection:
        return self._connections[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._connections)

    def __len__(self) -> int:
        return len(self._connections)

    def __contains__(self, name: object) -> bool:
        return name in self._connections

    def __repr__(self) -> str:
        return f"<ConnectionRegistry {sorted(self._connections)}>"

    def declare(
        self,
        name: str,
        base_url: str,
        *,
        auth: Auth | None = None,
        source: str | None = None,
        **options: Any,
    ) -> Connection:
        """Declare an external system (see `make_connection` for the options); `source`: the
        config file it comes from, named when another declaration clashes with it."""
        if name in self._connections:
            raise ConfigurationError(f"a connection named {name!r} is already declared")
        conn = make_connection(name, base_url, auth=auth, **options)
        self._connections[name] = conn
        if source is not None:
            self.sources[name] = source
        return conn

    def get_connection(self, name: str) -> Connection:
        try:
            return self._connections[name]
        except KeyError:
            known = ", ".join(sorted(self._connections)) or "none declared"
            raise UnknownConnection(f"unknown connection {name!r} (known: {known})") from None

    def check_named(self, payload: Any) -> None:
        """Refuse at enqueue a built-in task's payload that names an undeclared connection."""
        self.get_connection(payload.connection)

    # -- the live side ------------------------------------------------------------------------

    def client(self) -> RemoteClient:
        """The client of the running event loop (one pooled HTTP client per loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = RemoteClient(self, self._limits(), self._events, self.owners)
            self._clients[loop] = client
        return client

    async def close_client(self) -> None:
        """Close the running loop's client, if it has one (a worker does when it stops)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    async def test(self, name: str, *, close: bool = False) -> ConnectionCheck:
        """Call the connection's check request; never raises for a remote failure. `close`:
        close the loop's client afterwards (a sync facade's own loop ends there)."""
        conn = self.get_connection(name)
        try:
            return await check_connection(self.client(), conn)
        finally:
            if close:
                await self.close_client()
