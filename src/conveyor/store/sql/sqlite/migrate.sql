-- SQLite, the schema slice: the migrations' own bookkeeping. The schema they build is in
-- migrations/ (one numbered file each) and, all applied, in schema.sql.

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS conveyor_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)

-- name: migrations_table_exists
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conveyor_migrations')

-- name: applied_migrations
SELECT version, name FROM conveyor_migrations ORDER BY version

-- name: record_migration
INSERT INTO conveyor_migrations (version, name, applied_at) VALUES (:version, :name, :now)

-- name: schema_version
SELECT max(version) FROM conveyor_migrations
