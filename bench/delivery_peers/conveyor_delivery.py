"""Conveyor delivering to the sink: the built-in "conveyor.deliver" task, SQLite or PostgreSQL.

Workers: ``conveyor --app bench.delivery_app:app --database-url URL worker --concurrency 100
--log-level warning``; the app declares ``app.connection("sink", base_url=BENCH_SINK_URL,
breaker=False)`` (no rate limit). Each worker process runs the jobs on one event loop and sends
with its one pooled aiohttp client (keep-alive, up to 100 connections). Fill:
``app.enqueue_many("conveyor.deliver", [...])`` in chunks of 5,000, each payload being what
``app.deliver("sink", "events", event)`` stores. remaining = jobs not succeeded, dead or cancelled.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from bench.delivery_peers.base import DeliveryHarness, event
from bench.peers import common

CONCURRENCY = 100
BULK_CHUNK = 5000
PG_DB = "bench_conveyor_delivery"
APP_PATH = "bench.delivery_app:app"
REMAINING = (
    "SELECT count(*) FROM conveyor_jobs WHERE state NOT IN ('succeeded', 'dead', 'cancelled')"
)


class ConveyorDelivery(DeliveryHarness):
    def __init__(self, backend: str, folder: Path) -> None:
        if backend not in ("sqlite", "postgres"):
            raise ValueError(f"unknown backend {backend!r}")
        self.kind = backend
        self.name = f"conveyor-{backend}"
        self.backend = "sqlite" if backend == "sqlite" else "postgresql (psycopg 3)"
        self.path = folder / "deliveries.db"
        self.url = f"sqlite:///{self.path}" if backend == "sqlite" else common.pg_dsn(PG_DB)
        self._created = False

    @property
    def settings(self) -> str:
        return (
            f"conveyor {common.package_version('conveyor')}; workers: `conveyor --app {APP_PATH}"
            f" worker --concurrency {CONCURRENCY} --log-level warning`, built-in"
            ' "conveyor.deliver" task, connection "sink" with breaker=False and no rate limit,'
            " one aiohttp session per worker process (keep-alive, pool 100); fill:"
            f" app.enqueue_many('conveyor.deliver', ...) in chunks of {BULK_CHUNK:,}"
        )

    def _app(self) -> Any:
        from bench.delivery_app import app

        return app

    def setup(self) -> None:
        if self.kind == "postgres":
            common.recreate_pg_database(PG_DB)
            self._created = True

    def teardown(self) -> None:
        self._app().close()
        if self.kind == "postgres" and self._created:
            common.drop_pg_database(PG_DB)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def reset(self) -> None:
        app = self._app()
        app.close()
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        else:
            common.recreate_pg_database(PG_DB)
            self._created = True
        app.use_database(self.url)
        app.migrate()

    def analyze(self) -> None:
        if self.kind == "postgres":
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("ANALYZE conveyor_jobs")

    def fill(self, n: int) -> None:
        app = self._app()
        delivery = {"connection": "sink", "path": "events", "method": "POST", "body": event()}
        for start in range(0, n, BULK_CHUNK):
            app.enqueue_many("conveyor.deliver", [delivery] * min(BULK_CHUNK, n - start))

    def remaining(self) -> int:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                return int(conn.execute(REMAINING).fetchone()[0])
        with psycopg.connect(self.url, autocommit=True) as pg:
            row = pg.execute(REMAINING).fetchone()
            return int(row[0]) if row else 0

    def failures(self) -> int:
        """Jobs that needed more than one attempt or died (should be 0)."""
        query = "SELECT count(*) FROM conveyor_jobs WHERE state = 'dead' OR attempts > 1"
        if self.kind == "sqlite":
            with sqlite3.connect(self.path, timeout=30) as conn:
                return int(conn.execute(query).fetchone()[0])
        with psycopg.connect(self.url, autocommit=True) as pg:
            row = pg.execute(query).fetchone()
            return int(row[0]) if row else 0

    def worker_commands(self, processes: int) -> list[list[str]]:
        command = [
            common.venv_script("conveyor"),
            "--app",
            APP_PATH,
            "--database-url",
            self.url,
            "worker",
            "--concurrency",
            str(CONCURRENCY),
            "--log-level",
            "warning",
        ]
        return [command] * processes

    def worker_env(self) -> dict[str, str]:
        return {"CONVEYOR_DATABASE_URL": self.url}
