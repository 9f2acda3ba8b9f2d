-- PostgreSQL, the records slice: pull syncs' local records and their runs. Times are epoch
-- seconds from the application (records are not coordination state); batches are arrays.

-- name: run_running
SELECT * FROM conveyor_sync_runs
WHERE source = %(source)s AND owner = %(owner)s AND state = 'running'

-- name: run_reopen
-- A failed run keeps its checkpoint: the next sync of the owner in the same mode resumes it.
UPDATE conveyor_sync_runs SET state = 'running', finished_at = NULL, updated_at = %(now)s
WHERE id = (SELECT id FROM conveyor_sync_runs WHERE source = %(source)s AND owner = %(owner)s
            ORDER BY id DESC LIMIT 1)
  AND state = 'failed' AND checkpoint IS NOT NULL AND mode = %(mode)s
RETURNING *

-- name: run_insert
INSERT INTO conveyor_sync_runs (source, owner, state, mode, since, started_at, updated_at)
VALUES (%(source)s, %(owner)s, 'running', %(mode)s, %(since)s, %(now)s, %(now)s)
ON CONFLICT (source, owner) WHERE state = 'running' DO NOTHING
RETURNING *

-- name: run_get
SELECT * FROM conveyor_sync_runs WHERE id = %(run)s

-- name: run_progress
UPDATE conveyor_sync_runs
SET checkpoint = %(checkpoint)s::jsonb, stats = %(stats)s::jsonb, updated_at = %(now)s
WHERE id = %(run)s AND state = 'running'

-- name: run_finish
UPDATE conveyor_sync_runs
SET state = %(state)s, stats = %(stats)s::jsonb, errors = %(errors)s::jsonb,
    cursor = %(cursor)s::jsonb, checkpoint = CASE WHEN %(state)s = 'failed' THEN checkpoint END,
    finished_at = %(now)s, updated_at = %(now)s
WHERE id = %(run)s AND state = 'running'

-- name: run_list
SELECT * FROM conveyor_sync_runs
WHERE (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(owner)s::text IS NULL OR owner = %(owner)s)
ORDER BY id DESC LIMIT %(limit)s

-- name: run_owners
SELECT DISTINCT owner FROM conveyor_sync_runs WHERE source = %(source)s ORDER BY owner

-- name: run_last_cursor
SELECT cursor FROM conveyor_sync_runs
WHERE source = %(source)s AND owner = %(owner)s AND state = 'succeeded' AND cursor IS NOT NULL
ORDER BY id DESC LIMIT 1

-- name: record_hashes
-- Each id looked up by key in a LATERAL subquery that OFFSET 0 keeps from being flattened: while
-- the table's statistics are still those of an empty table (during and just after a first
-- sync, before autovacuum analyses it), `= ANY(...)` or a plain join make the planner read every
-- row of the owner per page, which makes a sync quadratic.
SELECT wanted.id, r.content_hash, r.deleted_at IS NOT NULL
FROM unnest(%(ids)s::text[]) AS wanted (id)
CROSS JOIN LATERAL (
    SELECT content_hash, deleted_at FROM conveyor_records
    WHERE source = %(source)s AND owner = %(owner)s AND kind = '' AND parent = ''
      AND external_id = wanted.id
    OFFSET 0
) AS r

-- name: record_upsert
-- `updated_at` moves only when the content did (or the record came back after a deletion).
INSERT INTO conveyor_records (source, owner, kind, parent, external_id, data, content_hash,
                              first_seen_at, last_seen_at, updated_at, deleted_at, last_run)
VALUES (%(source)s, %(owner)s, %(kind)s, %(parent)s, %(external_id)s, %(data)s::jsonb, %(hash)s,
        %(now)s, %(now)s, %(now)s, NULL, %(run)s)
ON CONFLICT (source, owner, kind, parent, external_id) DO UPDATE SET
    data = excluded.data, content_hash = excluded.content_hash,
    last_seen_at = excluded.last_seen_at, last_run = excluded.last_run, deleted_at = NULL,
    updated_at = CASE WHEN conveyor_records.content_hash = excluded.content_hash
                       AND conveyor_records.deleted_at IS NULL
                      THEN conveyor_records.updated_at ELSE excluded.updated_at END

-- name: record_seen
-- Unchanged items: only marked seen by this run, their data is not rewritten.
-- The rows found by key as in record_hashes, then updated by their ctid (a TID scan).
UPDATE conveyor_records SET last_seen_at = %(now)s, last_run = %(run)s
WHERE ctid = ANY(ARRAY(
    SELECT r.ctid FROM unnest(%(ids)s::text[]) AS wanted (id)
    CROSS JOIN LATERAL (
        SELECT ctid FROM conveyor_records
        WHERE source = %(source)s AND owner = %(owner)s AND kind = '' AND parent = ''
          AND external_id = wanted.id
        OFFSET 0
    ) AS r
))

-- name: record_drop_children
-- Children a rewritten item no longer holds.
UPDATE conveyor_records SET deleted_at = %(now)s
WHERE ctid = ANY(ARRAY(
    SELECT r.ctid FROM unnest(%(parents)s::text[]) AS rewritten (parent)
    CROSS JOIN LATERAL (
        SELECT ctid FROM conveyor_records
        WHERE source = %(source)s AND owner = %(owner)s AND parent = rewritten.parent
          AND kind <> '' AND deleted_at IS NULL AND last_run <> %(run)s
        OFFSET 0
    ) AS r
))

-- name: record_delete_unseen
UPDATE conveyor_records SET deleted_at = %(now)s
WHERE source = %(source)s AND owner = %(owner)s AND kind = '' AND parent = ''
  AND deleted_at IS NULL AND last_run <> %(run)s

-- name: record_delete_orphans
UPDATE conveyor_records SET deleted_at = %(now)s
WHERE source = %(source)s AND owner = %(owner)s AND kind <> '' AND deleted_at IS NULL
  AND parent IN (SELECT external_id FROM conveyor_records
                 WHERE source = %(source)s AND owner = %(owner)s AND kind = '' AND parent = ''
                   AND deleted_at IS NOT NULL)

-- name: record_list
SELECT * FROM conveyor_records
WHERE source = %(source)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
  AND kind = %(kind)s
  AND (%(deleted)s::boolean IS NULL OR (deleted_at IS NOT NULL) = %(deleted)s)
  AND (owner, parent, external_id) > (%(after_owner)s, %(after_parent)s, %(after_id)s)
ORDER BY owner, parent, external_id LIMIT %(limit)s
