-- PostgreSQL, the schema slice: the migrations' own bookkeeping. The schema they build is in
-- migrations/ (one numbered file each) and, all applied, in schema.sql.

-- name: migrate_lock
-- One migrating process at a time; the lock class is MIGRATE_LOCK
-- (store/postgres/connection.py).
SELECT pg_advisory_xact_lock(%(lock)s::int, 0)

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS conveyor_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())

-- name: migrations_table_exists
SELECT to_regclass('conveyor_migrations') IS NOT NULL

-- name: applied_migrations
SELECT version, name FROM conveyor_migrations ORDER BY version

-- name: record_migration
INSERT INTO conveyor_migrations (version, name) VALUES (%(version)s, %(name)s)

-- name: schema_version
SELECT max(version) FROM conveyor_migrations
