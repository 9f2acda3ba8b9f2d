-- The batches slice: a group of jobs, its members counted by state through conveyor_jobs_batch,
-- and its one callback. Members join in the transaction that makes the batch, or that completes
-- the member whose attempt enqueued them (fan-out).

-- name: batch_create
INSERT INTO conveyor_batches (name, on_complete, on_failure, payload, callback_options, created_at)
VALUES (:name, :on_complete, :on_failure, :payload, :callback_options, :now)
RETURNING id

-- name: batch_get
SELECT * FROM conveyor_batches WHERE id = :id

-- name: batch_list
SELECT * FROM conveyor_batches
WHERE (:before_id IS NULL OR id < :before_id) AND (:state IS NULL OR state = :state)
ORDER BY id DESC
LIMIT :limit

-- name: batch_counts
SELECT batch_id, state, count(*) FROM conveyor_jobs
WHERE batch_id IN (SELECT value FROM json_each(:ids))
GROUP BY batch_id, state

-- name: batch_lock
-- The open batches among :ids. (SQLite has one writer: nothing to lock.)
SELECT id FROM conveyor_batches
WHERE id IN (SELECT value FROM json_each(:ids)) AND finished_at IS NULL
ORDER BY id

-- name: batch_finish
-- Finish the open batches among :ids whose every member is final: exactly once, since the
-- row is finished by the same statement that checks it is not.
UPDATE conveyor_batches AS b
SET finished_at = :now,
    state = CASE WHEN EXISTS (SELECT 1 FROM conveyor_jobs AS j
                              WHERE j.batch_id = b.id AND j.state = 'dead')
                 THEN 'failed' ELSE 'succeeded' END
WHERE b.id IN (SELECT value FROM json_each(:ids)) AND b.finished_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM conveyor_jobs AS j
                  WHERE j.batch_id = b.id AND j.state IN ('waiting', 'queued', 'running', 'retrying'))
RETURNING id, name, state, on_complete, on_failure, payload, callback_options

-- name: batch_callback_job
UPDATE conveyor_batches SET callback_job_id = :job_id WHERE id = :id
