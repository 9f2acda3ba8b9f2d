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
    complete = %(complete)s,
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
-- Sent with executemany, which psycopg pipelines: measured at 0.7x the time of one INSERT ...
-- SELECT FROM unnest(arrays) for a page of 100 (6.6 against 9.0 ms, interleaved, 20 pages each).
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

-- name: page_hashes
SELECT page_key, body_hash FROM conveyor_sync_pages
WHERE source = %(source)s AND owner = %(owner)s AND body_hash IS NOT NULL

-- name: page_upsert
INSERT INTO conveyor_sync_pages (source, owner, page_key, body_hash, ids, last_run)
VALUES (%(source)s, %(owner)s, %(page_key)s, %(body_hash)s, %(ids)s::text[], %(run)s)
ON CONFLICT (source, owner, page_key) DO UPDATE SET
    body_hash = excluded.body_hash, ids = excluded.ids, last_run = excluded.last_run

-- name: pages_drop_stale
-- After a completed scan: pages past the listing's end now, or under keys no longer asked for.
DELETE FROM conveyor_sync_pages
WHERE source = %(source)s AND owner = %(owner)s AND last_run <> %(run)s

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

-- name: seen_table
-- The ids this run saw, with a key, so the anti-join below is by index or hash whatever the
-- planner believes of the tables (their statistics may be an empty table's after a first sync).
CREATE TEMPORARY TABLE conveyor_seen (id TEXT PRIMARY KEY) ON COMMIT DROP

-- name: seen_fill
INSERT INTO conveyor_seen
SELECT DISTINCT unnest(ids) FROM conveyor_sync_pages
WHERE source = %(source)s AND owner = %(owner)s AND last_run = %(run)s

-- name: record_delete_unseen
UPDATE conveyor_records AS r SET deleted_at = %(now)s
WHERE r.source = %(source)s AND r.owner = %(owner)s AND r.kind = '' AND r.parent = ''
  AND r.deleted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM conveyor_seen AS s WHERE s.id = r.external_id)

-- name: record_delete_orphans
UPDATE conveyor_records SET deleted_at = %(now)s
WHERE source = %(source)s AND owner = %(owner)s AND kind <> '' AND deleted_at IS NULL
  AND parent IN (SELECT external_id FROM conveyor_records
                 WHERE source = %(source)s AND owner = %(owner)s AND kind = '' AND parent = ''
                   AND deleted_at IS NOT NULL)

-- name: record_get
-- One record by its primary key; its seen time is its own (no scan bookkeeping needed here).
SELECT r.*, r.last_seen_at AS seen_at FROM conveyor_records AS r
WHERE source = %(source)s AND owner = %(owner)s AND kind = %(kind)s
  AND parent = %(parent)s AND external_id = %(id)s

-- name: record_list
-- A live record was seen by the owner's last completed scan, whether or not it was written then.
SELECT r.*, CASE WHEN r.deleted_at IS NULL THEN greatest(r.last_seen_at, (
           SELECT max(finished_at) FROM conveyor_sync_runs AS s
           WHERE s.source = r.source AND s.owner = r.owner AND s.complete
       )) ELSE r.last_seen_at END AS seen_at
FROM conveyor_records AS r
WHERE source = %(source)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
  AND kind = %(kind)s
  AND (%(deleted)s::boolean IS NULL OR (deleted_at IS NOT NULL) = %(deleted)s)
  AND (owner, parent, external_id) > (%(after_owner)s, %(after_parent)s, %(after_id)s)
ORDER BY owner, parent, external_id LIMIT %(limit)s
