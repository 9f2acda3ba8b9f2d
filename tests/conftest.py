"""Fixtures that give every store test both backends.

PostgreSQL comes from CONVEYOR_TEST_POSTGRES_URL (default: the local server). Each test session
creates its own database, migrated once; each test starts from empty tables. Without a server the
PostgreSQL tests are skipped with the reason, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from conveyor import Conveyor

POSTGRES_URL = os.environ.get(
    "CONVEYOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgres"]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated database for this session; dropped at the end."""
    name = f"conveyor_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if ON_CI:
            pytest.fail(f"PostgreSQL is required on CI and unreachable: {error}")
        pytest.skip(
            f"PostgreSQL not reachable at {POSTGRES_URL} ({error}); set up a server or "
            "CONVEYOR_TEST_POSTGRES_URL to run these tests"
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(POSTGRES_URL, name)
    app = Conveyor(url)
    app.migrate()
    app.close()
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE conveyor_jobs, conveyor_idempotency, conveyor_rate_limits,"
            " conveyor_breakers, conveyor_workers RESTART IDENTITY"
        )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'conveyor.db'}"
        app = Conveyor(url)
        app.migrate()
        app.close()
        return url
    url = str(request.getfixturevalue("postgres_database"))
    _empty_postgres(url)
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Conveyor]:
    application = Conveyor(database_url)
    yield application
    application.close()
