-- SQLite, the records slice: pull syncs' local records and their runs. Times are epoch seconds
-- from the application (`now`); batches of ids travel as JSON text (json_each).

-- name: run_running
SELECT * FROM conveyor_sync_runs WHERE source = :source AND owner = :owner AND state = 'running'

-- name: run_reopen
-- A failed run keeps its checkpoint: the next sync of the owner in the same mode resumes it.
UPDATE conveyor_sync_runs SET state = 'running', finished_at = NULL, updated_at = :now
WHERE id = (SELECT id FROM conveyor_sync_runs WHERE source = :source AND owner = :owner
            ORDER BY id DESC LIMIT 1)
  AND state = 'failed' AND checkpoint IS NOT NULL AND mode = :mode
RETURNING *

-- name: run_insert
INSERT INTO conveyor_sync_runs (source, owner, state, mode, since, started_at, updated_at)
VALUES (:source, :owner, 'running', :mode, :since, :now, :now)
ON CONFLICT (source, owner) WHERE state = 'running' DO NOTHING
RETURNING *

-- name: run_get
SELECT * FROM conveyor_sync_runs WHERE id = :run

-- name: run_progress
UPDATE conveyor_sync_runs SET checkpoint = :checkpoint, stats = :stats, updated_at = :now
WHERE id = :run AND state = 'running'

-- name: run_finish
UPDATE conveyor_sync_runs
SET state = :state, stats = :stats, errors = :errors, cursor = :cursor,
    checkpoint = CASE WHEN :state = 'failed' THEN checkpoint END,
    finished_at = :now, updated_at = :now
WHERE id = :run AND state = 'running'

-- name: run_list
SELECT * FROM conveyor_sync_runs
WHERE (:source IS NULL OR source = :source) AND (:owner IS NULL OR owner = :owner)
ORDER BY id DESC LIMIT :limit

-- name: run_owners
SELECT DISTINCT owner FROM conveyor_sync_runs WHERE source = :source ORDER BY owner

-- name: run_last_cursor
SELECT cursor FROM conveyor_sync_runs
WHERE source = :source AND owner = :owner AND state = 'succeeded' AND cursor IS NOT NULL
ORDER BY id DESC LIMIT 1

-- name: record_hashes
SELECT external_id, content_hash, deleted_at IS NOT NULL FROM conveyor_records
WHERE source = :source AND owner = :owner AND kind = '' AND parent = ''
  AND external_id IN (SELECT value FROM json_each(:ids))

-- name: record_upsert
-- `updated_at` moves only when the content did (or the record came back after a deletion).
INSERT INTO conveyor_records (source, owner, kind, parent, external_id, data, content_hash,
                              first_seen_at, last_seen_at, updated_at, deleted_at, last_run)
VALUES (:source, :owner, :kind, :parent, :external_id, :data, :hash, :now, :now, :now, NULL, :run)
ON CONFLICT (source, owner, kind, parent, external_id) DO UPDATE SET
    data = excluded.data, content_hash = excluded.content_hash,
    last_seen_at = excluded.last_seen_at, last_run = excluded.last_run, deleted_at = NULL,
    updated_at = CASE WHEN conveyor_records.content_hash = excluded.content_hash
                       AND conveyor_records.deleted_at IS NULL
                      THEN conveyor_records.updated_at ELSE excluded.updated_at END

-- name: record_seen
-- Unchanged items: only marked seen by this run, their data is not rewritten.
UPDATE conveyor_records SET last_seen_at = :now, last_run = :run
WHERE source = :source AND owner = :owner AND kind = '' AND parent = ''
  AND external_id IN (SELECT value FROM json_each(:ids))

-- name: record_drop_children
-- Children a rewritten item no longer holds.
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind <> '' AND deleted_at IS NULL
  AND last_run <> :run AND parent IN (SELECT value FROM json_each(:parents))

-- name: record_delete_unseen
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind = '' AND parent = ''
  AND deleted_at IS NULL AND last_run <> :run

-- name: record_delete_orphans
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind <> '' AND deleted_at IS NULL
  AND parent IN (SELECT external_id FROM conveyor_records
                 WHERE source = :source AND owner = :owner AND kind = '' AND parent = ''
                   AND deleted_at IS NOT NULL)

-- name: record_list
SELECT * FROM conveyor_records
WHERE source = :source AND (:owner IS NULL OR owner = :owner) AND kind = :kind
  AND (:deleted IS NULL OR (deleted_at IS NOT NULL) = :deleted)
  AND (owner, parent, external_id) > (:after_owner, :after_parent, :after_id)
ORDER BY owner, parent, external_id LIMIT :limit
