"""Fixtures that give every store test both backends.

PostgreSQL comes from CONVEYOR_TEST_POSTGRES_URL (default: the local server). Each test session
creates its own database, migrated once; each test starts from empty tables. Without a server the
PostgreSQL tests are skipped with the reason, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import os
import shutil
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
# What migrate() itself keeps: never emptied between tests, so the schema stays migrated.
BOOKKEEPING = "conveyor_migrations"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A `slow` test (worker processes, timed windows) is `serial` too: `make test` runs the rest
    in parallel (pytest-xdist), then these alone, so their timing is never another test's load."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.serial)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated database for this session; dropped at the end.

    Tests share it and start from emptied tables (`_empty_postgres`), not from a clone of it
    (CREATE DATABASE ... TEMPLATE) each. Measured in this fixture over the ~300 PostgreSQL tests
    outside tests/e2e, on a shared 2-core machine: a clone and its drop took 0.24 s per test
    (71 s in all, STRATEGY WAL_LOG; FILE_COPY is slower still), emptying the tables 0.05 s
    (14 s), and the run 144 s against 88 s.
    """
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


@pytest.fixture(scope="session")
def postgres_tables(postgres_database: str) -> str:
    """The SQL that empties every table the migrations made and starts their ids again from 1,
    read from the catalog once.

    DELETE, not TRUNCATE: the tables hold a test's few rows, and TRUNCATE makes new files for
    every table and index (fsynced at commit). Measured on the shared 2-core machine under load:
    0.4 s per TRUNCATE of the 16 tables against 0.06 s for the DELETEs, over ~550 PostgreSQL
    tests. The schema has no foreign keys, so the order does not matter (the assertion below
    says so if one comes); the one trigger is AFTER INSERT.
    """
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables"
            " WHERE schemaname = current_schema() AND tablename <> %s ORDER BY tablename",
            (BOOKKEEPING,),
        ).fetchall()
        sequences = conn.execute(
            "SELECT quote_literal(quote_ident(sequencename)), start_value FROM pg_sequences"
            " WHERE schemaname = current_schema() ORDER BY sequencename"
        ).fetchall()
        [[foreign_keys]] = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
            " AND connamespace = current_schema()::regnamespace"
        ).fetchall()
    assert tables, "the migrations made no table"
    assert foreign_keys == 0, "a foreign key: delete the tables in its order, children first"
    deletes = [f"DELETE FROM {table}" for (table,) in tables]
    restarts = [f"SELECT setval({name}, {start}, false)" for name, start in sequences]
    return "; ".join([*deletes, *restarts])


def _empty_postgres(url: str, empty_sql: str) -> None:
    """One transaction: the tables empty, ids start again from 1 (as TRUNCATE ... RESTART
    IDENTITY would leave them)."""
    with psycopg.connect(url) as conn:
        conn.execute(empty_sql)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session: each test gets a copy (0.3 ms, against 16 ms
    to migrate a new file)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "conveyor.db"
    app = Conveyor(f"sqlite:///{path}")
    app.migrate()
    app.close()  # the last connection checkpoints the WAL: the file alone is the database
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "conveyor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = str(request.getfixturevalue("postgres_database"))
    _empty_postgres(url, str(request.getfixturevalue("postgres_tables")))
    return url


@pytest.fixture
def app(database_url: str) -> Iterator[Conveyor]:
    application = Conveyor(database_url)
    yield application
    application.close()
