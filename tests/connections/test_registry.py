"""The connections' seams: the registry on the app, a client that takes only what it uses, and
`current_remote()` for the code of a running task (the built-in tasks take their client there).

Pure HTTP behaviour: run once, on SQLite, not once per backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import ConfigurationError, Conveyor, Postpone, RateLimit
from conveyor.breaker import BreakerRecord
from conveyor.connections import ConnectionRegistry, RemoteClient, current_remote
from conveyor.connections.config import apply_config
from conveyor.connections.connection import Connection, make_connection
from conveyor.politeness import Hold
from conveyor.types import BreakerChange, HoldChange
from tests.connections.conftest import run_burst
from tests.http_sink import Response, Sink


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Conveyor]:
    app = Conveyor(f"sqlite:///{tmp_path / 'registry.db'}")
    app.migrate()
    yield app
    app.close()


class Limits:
    """A limits slice with no database: the first token granted, breakers and holds kept in
    dicts."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.records: dict[str, BreakerRecord] = {}
        self.holds: dict[str, Hold] = {}

    def clock(self) -> float:
        return 0.0

    def take_token(self, name: str, limit: RateLimit) -> float:
        self.tokens.append(name)
        return 0.0 if len(self.tokens) == 1 else 5.0

    def breaker(self, name: str) -> BreakerRecord | None:
        return self.records.get(name)

    def change_breaker(
        self, name: str, change: BreakerChange
    ) -> tuple[BreakerRecord | None, BreakerRecord | None]:
        before = self.records.get(name)
        after = change(before, 0.0)
        if after is not None:
            self.records[name] = after
        return before, after

    def breakers(self) -> list[BreakerRecord]:
        return list(self.records.values())

    def held(self, name: str) -> tuple[Hold, float | None] | None:
        hold = self.holds.get(name)
        if hold is None:
            return None
        return hold, None if hold.until is None else hold.until

    def change_hold(
        self, name: str, change: HoldChange, bucket: tuple[str, RateLimit] | None = None
    ) -> tuple[Hold | None, Hold | None]:
        before = self.holds.get(name)
        after = change(before, 0.0)
        if after is not None:
            self.holds[name] = after
        return before, after

    def clear_spent_hold(self, name: str) -> None:
        self.holds.pop(name, None)


class Lookup:
    def __init__(self, *connections: Connection) -> None:
        self.connections = {conn.name: conn for conn in connections}

    def get_connection(self, name: str) -> Connection:
        return self.connections[name]


class Events:
    def __init__(self) -> None:
        self.published: list[object] = []

    def publish(self, event: object) -> None:
        self.published.append(event)


def test_a_client_needs_no_app(sink: Sink) -> None:
    """What `RemoteClient` uses is what it is given: a lookup, the limits slice, a sink."""
    sink.default("/me", Response(200, json={"id": 7}))
    shop = make_connection("shop", sink.url, rate_limit="1/s")
    limits = Limits()

    async def twice() -> tuple[int, float]:
        client = RemoteClient(Lookup(shop), limits, Events())
        try:
            first = await client.request("shop", "GET", "/me")
            with pytest.raises(Postpone) as postponed:
                await client.request("shop", "GET", "/me")
            return first.status, postponed.value.after
        finally:
            await client.close()

    assert asyncio.run(twice()) == (200, 5.0)
    assert limits.tokens == ["connection:shop", "connection:shop"]
    assert len(sink.requests) == 1


def test_the_registry_is_a_read_only_mapping(local: Conveyor, tmp_path: Path) -> None:
    registry = local.connections
    assert isinstance(registry, ConnectionRegistry)
    assert registry == {} and not registry
    shop = local.connection("shop", "https://shop.example")
    assert registry == {"shop": shop} and registry["shop"] is local.get_connection("shop")
    assert "shop" in registry and registry.get("crm") is None
    with pytest.raises(ConfigurationError, match="already declared"):
        registry.declare("shop", "https://other.example")
    config = tmp_path / "conveyor.toml"
    config.write_text('[connections.crm]\nbase_url = "https://crm.example"\n')
    apply_config(local, config)
    assert sorted(registry) == ["crm", "shop"]
    assert registry.sources == {"crm": str(config)}  # shop was declared in Python


def test_current_remote_outside_a_task_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"current_remote\(\) is for the code of a task"):
        current_remote()


def test_a_task_reaches_the_client_of_its_attempt(local: Conveyor, sink: Sink) -> None:
    """From a task's code, `current_remote()` is the client `app.remote()` gives on that loop,
    with `run_now` and with a worker alike."""
    sink.default("/me", Response(200, json={"name": "ACME"}))
    local.connection("shop", sink.url)
    seen: list[Any] = []

    @local.task
    async def whoami() -> str:
        client = current_remote()
        seen.append(client is local.remote())
        response = await client.request("shop", "GET", "/me")
        return str(response.json()["name"])

    assert local.run_now("whoami") == "ACME"
    job_id = local.enqueue("whoami")
    run_burst(local, middleware=[])
    assert local.get_job(job_id).result == "ACME"
    assert seen == [True, True]
