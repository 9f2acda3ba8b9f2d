-- The batches slice: a group of jobs, its members counted by state through conveyor_jobs_batch,
-- and its one callback. Members join in the transaction that makes the batch, or that completes
-- the member whose attempt enqueued them (fan-out).

-- name: batch_create
INSERT INTO conveyor_batches (name, on_complete, on_failure, payload, callback_options)
VALUES (%(name)s, %(on_complete)s, %(on_failure)s, %(payload)s::jsonb, %(callback_options)s::jsonb)
RETURNING id

-- name: batch_get
SELECT * FROM conveyor_batches WHERE id = %(id)s

-- name: batch_list
SELECT * FROM conveyor_batches
WHERE (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
  AND (%(state)s::text IS NULL OR state = %(state)s)
ORDER BY id DESC
LIMIT %(limit)s

-- name: batch_counts
SELECT batch_id, state, count(*) FROM conveyor_jobs
WHERE batch_id = ANY(%(ids)s::bigint[])
GROUP BY batch_id, state

-- name: batch_lock
-- Serialises the completions that may finish a batch: the member that finishes last, whichever
-- transaction writes it, sees every other member final once it holds the row (batch_finish is a
-- statement of its own, so it reads what the transactions before it committed). In id order,
-- against deadlocks.
SELECT id FROM conveyor_batches
WHERE id = ANY(%(ids)s::bigint[]) AND finished_at IS NULL
ORDER BY id
FOR UPDATE

-- name: batch_finish
-- Finish the open batches among :ids whose every member is final: exactly once, since the
-- row is locked and finished by the same transaction that checks it is not.
UPDATE conveyor_batches AS b
SET finished_at = now(),
    state = CASE WHEN EXISTS (SELECT 1 FROM conveyor_jobs AS j
                              WHERE j.batch_id = b.id AND j.state = 'dead')
                 THEN 'failed' ELSE 'succeeded' END
WHERE b.id = ANY(%(ids)s::bigint[]) AND b.finished_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM conveyor_jobs AS j
                  WHERE j.batch_id = b.id AND j.state IN ('waiting', 'queued', 'running', 'retrying'))
RETURNING id, name, state, on_complete, on_failure, payload::text, callback_options::text

-- name: batch_callback_job
UPDATE conveyor_batches SET callback_job_id = %(job_id)s WHERE id = %(id)s
