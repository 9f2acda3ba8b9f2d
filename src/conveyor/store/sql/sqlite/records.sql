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
SET state = :state, stats = :stats, errors = :errors, cursor = :cursor, complete = :complete,
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

-- name: page_hashes
SELECT page_key, body_hash FROM conveyor_sync_pages
WHERE source = :source AND owner = :owner AND body_hash IS NOT NULL

-- name: page_upsert
INSERT INTO conveyor_sync_pages (source, owner, page_key, body_hash, ids, last_run)
VALUES (:source, :owner, :page_key, :body_hash, :ids, :run)
ON CONFLICT (source, owner, page_key) DO UPDATE SET
    body_hash = excluded.body_hash, ids = excluded.ids, last_run = excluded.last_run

-- name: pages_drop_stale
-- After a completed scan: pages past the listing's end now, or under keys no longer asked for.
DELETE FROM conveyor_sync_pages WHERE source = :source AND owner = :owner AND last_run <> :run

-- name: record_drop_children
-- Children a rewritten item no longer holds.
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind <> '' AND deleted_at IS NULL
  AND last_run <> :run AND parent IN (SELECT value FROM json_each(:parents))

-- name: record_delete_unseen
-- The items on none of the pages this run saw. (SQLite reads a NOT IN subquery once, into an
-- index of its own.)
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind = '' AND parent = '' AND deleted_at IS NULL
  AND external_id NOT IN (
      SELECT j.value FROM conveyor_sync_pages AS p, json_each(p.ids) AS j
      WHERE p.source = :source AND p.owner = :owner AND p.last_run = :run
  )

-- name: record_delete_orphans
UPDATE conveyor_records SET deleted_at = :now
WHERE source = :source AND owner = :owner AND kind <> '' AND deleted_at IS NULL
  AND parent IN (SELECT external_id FROM conveyor_records
                 WHERE source = :source AND owner = :owner AND kind = '' AND parent = ''
                   AND deleted_at IS NOT NULL)

-- name: record_get
-- One record by its primary key; its seen time is its own (no scan bookkeeping needed here).
SELECT r.*, r.last_seen_at AS seen_at FROM conveyor_records AS r
WHERE source = :source AND owner = :owner AND kind = :kind
  AND parent = :parent AND external_id = :id

-- name: record_list
-- A live record was seen by the owner's last completed scan, whether or not it was written then.
SELECT r.*, CASE WHEN r.deleted_at IS NULL THEN max(r.last_seen_at, coalesce((
           SELECT max(finished_at) FROM conveyor_sync_runs AS s
           WHERE s.source = r.source AND s.owner = r.owner AND s.complete = 1
       ), 0)) ELSE r.last_seen_at END AS seen_at
FROM conveyor_records AS r
WHERE source = :source AND (:owner IS NULL OR owner = :owner) AND kind = :kind
  AND (:deleted IS NULL OR (deleted_at IS NOT NULL) = :deleted)
  AND (owner, parent, external_id) > (:after_owner, :after_parent, :after_id)
ORDER BY owner, parent, external_id LIMIT :limit
