"""The schema slice, every backend: migrations in order, the version they leave, and schema.sql
(the schema they build, checked in) kept equal to what they build."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from conveyor.errors import StoreError
from conveyor.store import Store, open_store, queries
from conveyor.store.schema import pending
from conveyor.store.sqlite import sqlite_path
from conveyor.store.sqlite.connection import split_statements


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def _latest(dialect: str) -> tuple[int, str]:
    version, name, _ = queries.migrations(dialect)[-1]
    return version, f"{version:04d}_{name}"


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, on the backend of `database_url`."""
    if _dialect(database_url) == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"conveyor_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_is_idempotent(store: Store, database_url: str) -> None:
    assert store.migrate() == []
    assert store.schema_version() == _latest(_dialect(database_url))[0]


def test_an_empty_database_is_at_version_0_and_migrates_in_order(empty_url: str) -> None:
    store = open_store(empty_url)
    try:
        assert store.schema_version() == 0
        names = [f"{v:04d}_{name}" for v, name, _ in queries.migrations(store.dialect)]
        assert store.migrate() == names
        assert store.schema_version() == _latest(store.dialect)[0]
    finally:
        store.close()


def test_migrate_refuses_a_migration_numbered_below_one_applied(empty_url: str) -> None:
    """A development database that has 0004 and 0005 but not 0003 must not have 0003 run on a
    schema it was not written for (on SQLite, 0003 rebuilds the jobs table)."""
    store = open_store(empty_url)
    try:
        store.migrate()
        version, name, _ = queries.migrations(store.dialect)[1]
        _sql(empty_url, "DELETE FROM conveyor_migrations WHERE version = 2")
        with pytest.raises(StoreError) as raised:
            store.migrate()
        assert f"{version:04d}_{name}" in str(raised.value)
        assert _latest(store.dialect)[1] in str(raised.value)
        assert _sql(empty_url, "SELECT count(*) FROM conveyor_migrations WHERE version = 2") == [
            (0,)
        ]
    finally:
        store.close()


def test_pending_migrations_in_order() -> None:
    available = [(1, "a", ""), (2, "b", ""), (3, "c", "")]
    assert pending(available, {}) == available
    assert pending(available, {1: "a"}) == available[1:]
    assert pending(available, {1: "a", 2: "b", 3: "c", 9: "newer"}) == []  # a newer version's
    with pytest.raises(StoreError, match=r"0002_b is not applied.*already has 0003_c"):
        pending(available, {1: "a", 3: "c"})


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_schema_sql_says_which_migration_it_follows(dialect: str) -> None:
    found = re.search(r"^-- version: (\d+)$", queries.text(dialect, "schema.sql"), re.M)
    assert found is not None and int(found.group(1)) == _latest(dialect)[0], (
        f"sql/{dialect}/schema.sql is not the schema after {_latest(dialect)[1]}: update it"
    )


def test_schema_sql_is_the_schema_the_migrations_build(database_url: str, empty_url: str) -> None:
    """`database_url` was migrated from empty; `empty_url` gets schema.sql, as a reader would."""
    dialect = _dialect(database_url)
    script = queries.text(dialect, "schema.sql")
    if dialect == "sqlite":
        with sqlite3.connect(sqlite_path(empty_url)) as conn:
            for statement in split_statements(script):
                conn.execute(statement)
        assert _sqlite_schema(empty_url) == _sqlite_schema(database_url)
    else:
        with psycopg.connect(empty_url, autocommit=True) as conn:
            conn.execute(script.encode())
        assert _postgres_schema(empty_url) == _postgres_schema(database_url)


def test_the_key_index_holds_heads_only_and_the_head_checks_use_it(database_url: str) -> None:
    """Migration 0008: a waiting or finished job takes no entry in `conveyor_jobs_key` (fewer index
    writes per keyed job), and a head check's predicate still matches the partial index, so it is
    an index lookup, not a scan."""
    heads = "('queued', 'running', 'retrying', 'dead')"
    check = f"SELECT id FROM conveyor_jobs WHERE key = 'k:1' AND state IN {heads}"
    if _dialect(database_url) == "sqlite":
        [(definition,)] = _sql(
            database_url, "SELECT sql FROM sqlite_master WHERE name = 'conveyor_jobs_key'"
        )
        plan = " ".join(str(row[-1]) for row in _sql(database_url, f"EXPLAIN QUERY PLAN {check}"))
    else:
        [(definition,)] = _sql(
            database_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'conveyor_jobs_key'"
        )
        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute("SET enable_seqscan = off")  # an empty table: a scan would be cheaper
            plan = " ".join(str(row[0]) for row in pg.execute(f"EXPLAIN {check}".encode()))
    assert [state for state in heads.strip("()").replace("'", "").split(", ")] == [
        state for state in ("queued", "running", "retrying", "dead") if f"'{state}'" in definition
    ]
    assert not [s for s in ("waiting", "succeeded", "cancelled") if f"'{s}'" in definition]
    assert "conveyor_jobs_key" in plan


# -- reading a schema back -----------------------------------------------------------------------


def _sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    if _dialect(url) == "sqlite":
        with sqlite3.connect(sqlite_path(url)) as conn:
            return [tuple(row) for row in conn.execute(statement).fetchall()]
    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(statement.encode())
        return [tuple(row) for row in cur.fetchall()] if cur.description else []


def normalized_sql(sql: str | None) -> str:
    """DDL as SQLite keeps it, without what does not change the schema: comments, quotes around
    names, spacing (ALTER TABLE ... ADD COLUMN appends ", name TYPE" on the closing line)."""
    text = re.sub(r"--[^\n]*", "", sql or "").replace('"', "")
    return re.sub(r"\s*([(),])\s*", r"\1", " ".join(text.split()))


def _sqlite_schema(url: str) -> list[tuple[str, str, str, str]]:
    rows = _sql(
        url,
        "SELECT type, name, tbl_name, sql FROM sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%' AND tbl_name != 'conveyor_migrations'"
        " ORDER BY type, name",
    )
    assert rows, "no schema"
    return [(kind, name, table, normalized_sql(sql)) for kind, name, table, sql in rows]


OURS = "left({0}, 9) = 'conveyor_' AND {0} != 'conveyor_migrations'"
POSTGRES_CATALOG = {
    "columns": "SELECT table_name, ordinal_position, column_name, data_type, is_nullable,"
    " column_default FROM information_schema.columns"
    f" WHERE table_schema = current_schema() AND {OURS.format('table_name')} ORDER BY 1, 2",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
    f" WHERE schemaname = current_schema() AND {OURS.format('tablename')} ORDER BY 1, 2",
    "constraints": "SELECT conrelid::regclass::text AS t, conname, contype,"
    " pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = current_schema()::regnamespace"
    f" AND {OURS.format('conrelid::regclass::text')} ORDER BY 1, 2",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger"
    f" WHERE NOT tgisinternal AND {OURS.format('tgrelid::regclass::text')} ORDER BY 1, 2",
    "functions": "SELECT proname, pg_get_functiondef(oid) FROM pg_proc"
    " WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
    "sequences": "SELECT sequencename, data_type, start_value, increment_by FROM pg_sequences"
    f" WHERE schemaname = current_schema() AND {OURS.format('sequencename')} ORDER BY 1",
}


def _postgres_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    schema = {part: _sql(url, query) for part, query in POSTGRES_CATALOG.items()}
    assert all(schema.values()), {part: len(rows) for part, rows in schema.items()}
    return schema
