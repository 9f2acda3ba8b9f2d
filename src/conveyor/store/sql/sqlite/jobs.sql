-- SQLite, the jobs slice. Parameters are named (:name); `now` is passed in by the store.
-- Batches travel as JSON arrays read with json_each, like PostgreSQL's arrays: a batch of outcomes
-- is one statement, not one per job. An array of rows is a list of objects, read with
-- json_extract(value, '$.field') (not `->>`, which needs SQLite 3.38).
-- Statements over an array of ids test `+state`: the unary plus keeps the planner off the state
-- index, which it would otherwise drive them from, comparing every row in that state with every
-- array element (measured: 7.3 ms per batch of 100 outcomes, against 0.9 ms looking each id up).

-- name: insert_job
INSERT INTO conveyor_jobs (task, queue, payload, key, leads_key, idempotency_key, priority, state,
                           max_attempts, run_at, created_at, batch_id, parent_id, connection)
VALUES (:task, :queue, :payload, :key, :leads_key, :idempotency_key, :priority, :state,
        :max_attempts, :run_at, :now, :batch_id, :parent_id, :connection)

-- name: insert_unkeyed_job
-- The single enqueue's hot path: a job with no key and no idempotency key, by position
-- (task, queue, payload, leads_key, priority, max_attempts, run_at, now).
INSERT INTO conveyor_jobs (task, queue, payload, leads_key, priority, state, max_attempts, run_at,
                           created_at)
VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)

-- name: last_id
SELECT last_insert_rowid()

-- name: key_head
SELECT id, state, leads_key FROM conveyor_jobs
WHERE key = :key AND state IN ('queued', 'running', 'retrying', 'dead')

-- name: demote
UPDATE conveyor_jobs SET state = 'waiting' WHERE id = :id AND state = 'queued'

-- name: idempotency_lookup
SELECT job_id FROM conveyor_idempotency WHERE key = :key

-- name: idempotency_insert
INSERT INTO conveyor_idempotency (key, job_id, created_at) VALUES (:key, :job_id, :now)

-- name: database_identity
-- Which file a caller's outbox connection is on (the row named 'main').
PRAGMA database_list

-- name: insert_finished
-- A job run at once in the caller (`run_now(..., persist=True)`), recorded as it ended.
INSERT INTO conveyor_jobs (task, queue, payload, key, priority, state, attempts, max_attempts,
                           run_at, created_at, started_at, finished_at, result, errors, last_error,
                           connection)
VALUES (:task, :queue, :payload, :key, :priority, :state, 1, :max_attempts, :started, :started,
        :started, :now, :result, :errors, :last_error, :connection)
RETURNING id

-- name: claim
-- INDEXED BY: without statistics the planner takes `conveyor_jobs_state` and sorts every runnable
-- row for each claim (20,000 queued: 3.9 ms for the SELECT); walking the partial index in claim
-- order stops after `limit` rows (32 µs; 71 µs with the task filter).
UPDATE conveyor_jobs
SET state = 'running', attempts = attempts + 1, lease_token = :token, worker_id = :worker,
    lease_expires_at = :now + :lease, started_at = :now, postponed_reason = NULL
WHERE id IN (
    SELECT id FROM conveyor_jobs INDEXED BY conveyor_jobs_runnable
    WHERE state IN ('queued', 'retrying') AND run_at <= :now
      AND (:all_queues OR queue IN (SELECT value FROM json_each(:queues)))
      AND (:all_tasks OR task IN (SELECT value FROM json_each(:tasks)))
    ORDER BY priority DESC, id
    LIMIT :limit
)
RETURNING id, task, queue, payload, key, attempts, max_attempts, priority, batch_id

-- name: succeed
-- :rows [{id, token, result}]. Returns the key of each job that finished under our lease: the
-- caller promotes the next job of those keys. A cancel requested while the attempt ran wins: the
-- job ends `cancelled`, its result kept.
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.cancel_requested_at IS NULL THEN 'succeeded' ELSE 'cancelled' END,
    finished_at = :now, result = d.result,
    lease_token = NULL, lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.result') AS result
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
RETURNING key

-- name: succeed_parents
-- `succeed` for the jobs whose outcome carries more (children, a batch): also returns the id
-- and the state each ended in, so that only the children of a success are written.
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.cancel_requested_at IS NULL THEN 'succeeded' ELSE 'cancelled' END,
    finished_at = :now, result = d.result,
    lease_token = NULL, lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.result') AS result
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
RETURNING key, id, state

-- name: job_progress
-- :rows [{id, token, done, total}]: what running tasks reported, fenced by the lease.
UPDATE conveyor_jobs AS j
SET progress_done = d.done, progress_total = d.total
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.done') AS done, json_extract(value, '$.total') AS total
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'

-- name: fail_retry
-- :rows [{id, token, delay, message, error}]
UPDATE conveyor_jobs AS j
SET state = 'retrying', run_at = :now + d.delay, last_error = d.message,
    errors = json_insert(j.errors, '$[#]', json(d.error)),
    lease_token = NULL, lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.delay') AS delay, json_extract(value, '$.message') AS message,
             json_extract(value, '$.error') AS error
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
  AND j.cancel_requested_at IS NULL

-- name: fail_dead
-- :rows [{id, token, message, error}]
UPDATE conveyor_jobs AS j
SET state = 'dead', finished_at = :now, last_error = d.message,
    errors = json_insert(j.errors, '$[#]', json(d.error)),
    lease_token = NULL, lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.message') AS message, json_extract(value, '$.error') AS error
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
  AND j.cancel_requested_at IS NULL

-- name: hand_back
-- :rows [{id, token, delay, reason}]. Shutdown (delay 0, no reason) or postponement (with its
-- reason): back to the queue, the attempt not counted.
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = j.attempts - 1, run_at = :now + d.delay,
    lease_token = NULL, lease_expires_at = NULL, postponed_reason = d.reason
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.delay') AS delay, json_extract(value, '$.reason') AS reason
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
  AND j.cancel_requested_at IS NULL

-- name: finish_cancelled
-- :rows [{id, token, forced, result, message, error}]. Every outcome but success of a job whose
-- cancel was requested (`forced`: the worker says so) ends it `cancelled`: never retried, dead or
-- handed back. An error it raised is kept. Returns the keys released.
UPDATE conveyor_jobs AS j
SET state = 'cancelled', finished_at = :now, result = coalesce(d.result, j.result),
    last_error = coalesce(d.message, j.last_error),
    errors = CASE WHEN d.error IS NULL THEN j.errors
                  ELSE json_insert(j.errors, '$[#]', json(d.error)) END,
    lease_token = NULL, lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token,
             json_extract(value, '$.forced') AS forced, json_extract(value, '$.result') AS result,
             json_extract(value, '$.message') AS message, json_extract(value, '$.error') AS error
      FROM json_each(:rows)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
  AND (d.forced OR j.cancel_requested_at IS NOT NULL)
RETURNING key

-- name: cancel_requested
-- The worker's quick look, every half second, at the jobs it runs.
SELECT id FROM conveyor_jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'running'
  AND cancel_requested_at IS NOT NULL

-- name: promote
-- Promote the next job of each key (:keys, distinct), unless something already holds it.
-- Idempotent. The ids are chosen before any row changes, and each key's choice touches only its
-- own rows, so one statement does what one per key would.
UPDATE conveyor_jobs SET state = 'queued'
WHERE id IN (
    SELECT (SELECT w.id FROM conveyor_jobs AS w
            WHERE w.key = k.value AND w.state = 'waiting'
            ORDER BY w.leads_key DESC, w.id LIMIT 1)
    FROM json_each(:keys) AS k
    WHERE NOT EXISTS (SELECT 1 FROM conveyor_jobs AS a
                      WHERE a.key = k.value AND a.state IN ('queued', 'running', 'retrying', 'dead'))
)

-- name: promote_released
-- The heads of these keys (:keys, distinct) just finished under our lease, so nothing else holds
-- them: no further check.
UPDATE conveyor_jobs SET state = 'queued'
WHERE id IN (
    SELECT (SELECT w.id FROM conveyor_jobs AS w
            WHERE w.key = k.value AND w.state = 'waiting'
            ORDER BY w.leads_key DESC, w.id LIMIT 1)
    FROM json_each(:keys) AS k
)

-- name: renew
-- :leases [{id, token}]. Returns the ids still held.
UPDATE conveyor_jobs AS j SET lease_expires_at = :now + :lease
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.token') AS token
      FROM json_each(:leases)) AS d
WHERE j.id = d.id AND j.lease_token = d.token AND +j.state = 'running'
RETURNING id

-- name: recover_expired
-- A job whose cancel was requested is cancelled, not retried: its code is no longer running.
UPDATE conveyor_jobs
SET state = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                 WHEN attempts >= max_attempts THEN 'dead' ELSE 'retrying' END,
    finished_at = CASE WHEN cancel_requested_at IS NOT NULL OR attempts >= max_attempts
                       THEN :now END,
    run_at = :now, last_error = :message,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempts, 'at', :now, 'type', 'LeaseExpired', 'message', :message,
        'worker_id', worker_id)),
    lease_token = NULL, lease_expires_at = NULL
WHERE state = 'running' AND lease_expires_at < :now
RETURNING id, key, state, batch_id

-- name: seconds_until_due
-- Only the jobs this worker would claim: another task's due job must not keep it awake.
SELECT min(run_at) - :now FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
  AND (:all_queues OR queue IN (SELECT value FROM json_each(:queues)))
  AND (:all_tasks OR task IN (SELECT value FROM json_each(:tasks)))

-- name: postponed_jobs
-- Burst workers: a postponed job due soon is runnable, only throttled; one on hold (its reason
-- begins with politeness.ON_HOLD: a paused connection, one no worker here declares) waits for
-- someone. How many of each, when the first throttled one is due, and the span of their run_at.
SELECT count(*), sum(postponed_reason LIKE 'on hold: %'),
       min(CASE WHEN postponed_reason NOT LIKE 'on hold: %' THEN run_at END) - :now,
       min(run_at), max(run_at)
FROM conveyor_jobs
WHERE state IN ('queued', 'retrying') AND postponed_reason IS NOT NULL
  AND (:all_queues OR queue IN (SELECT value FROM json_each(:queues)))
  AND (:all_tasks OR task IN (SELECT value FROM json_each(:tasks)))

-- name: get_job
SELECT * FROM conveyor_jobs WHERE id = :id

-- name: list_jobs
-- `{where}`: the filter's conditions (store/listing.py), each served by an index of 0017:
-- state, task, queue or key with id (the keyset `before`) walk that index newest first.
SELECT * FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT :limit

-- name: list_jobs_since_recent
-- `since` (finished, or created if unfinished), first from the newest jobs the filter's own walk
-- reaches (`walk` of them, store/listing.py): a window of recent times is mostly there, and the
-- walk's cost is bounded whatever the window holds (by rowid below `before`, it went through
-- every older row when the window's jobs were all above it).
SELECT * FROM (SELECT * FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT :walk)
WHERE finished_at >= :since OR (finished_at IS NULL AND created_at >= :since)
ORDER BY id DESC LIMIT :limit

-- name: list_jobs_since_walked
-- How far that walk got: fewer than `walk` rows and it saw every candidate (its answer is whole).
SELECT count(*) AS walked
FROM (SELECT 1 FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT :walk)

-- name: list_jobs_since
-- The window by its indexes, when the walk did not fill the page: finished and unfinished jobs
-- apart, each `INDEXED BY` its time index (which holds the rowid, so `before` is checked there),
-- sorted, merged. SQLite keeps no histogram to choose between these and the walk.
SELECT * FROM (
    SELECT * FROM (SELECT * FROM conveyor_jobs INDEXED BY conveyor_jobs_finished
                   WHERE {where} AND finished_at >= :since
                   ORDER BY id DESC LIMIT :limit)
    UNION ALL
    SELECT * FROM (SELECT * FROM conveyor_jobs INDEXED BY conveyor_jobs_unfinished
                   WHERE {where} AND finished_at IS NULL AND created_at >= :since
                   ORDER BY id DESC LIMIT :limit))
ORDER BY id DESC LIMIT :limit

-- name: list_jobs_by_connection
-- A state and a connection ("everything dead for connection X since T"): from the index of
-- (state, connection, finished_at), not a walk of every id (`:x IS NULL OR` hides it from the
-- planner). 200,000 jobs, 20,000 dead of 3 connections: 117 ms walking ids, 11 ms from the index.
SELECT * FROM conveyor_jobs INDEXED BY conveyor_jobs_connection
WHERE state = :state AND connection = :connection
  AND (:task IS NULL OR task = :task)
  AND (:queue IS NULL OR queue = :queue)
  AND (:key IS NULL OR key = :key)
  AND (:before_id IS NULL OR id < :before_id)
  AND (:since IS NULL OR COALESCE(finished_at, created_at) >= :since)
  AND (:error IS NULL OR last_error LIKE :error ESCAPE '\')
  AND (:batch_id IS NULL OR batch_id = :batch_id)
ORDER BY id DESC
LIMIT :limit

-- name: list_finished_by_connection
-- The same for a final state since a time: a finished job's time is its finished_at, so the
-- index gives the range too (state = ? AND connection = ? AND finished_at >= ?).
SELECT * FROM conveyor_jobs INDEXED BY conveyor_jobs_connection
WHERE state = :state AND connection = :connection AND finished_at >= :since
  AND (:task IS NULL OR task = :task)
  AND (:queue IS NULL OR queue = :queue)
  AND (:key IS NULL OR key = :key)
  AND (:before_id IS NULL OR id < :before_id)
  AND (:error IS NULL OR last_error LIKE :error ESCAPE '\')
  AND (:batch_id IS NULL OR batch_id = :batch_id)
ORDER BY id DESC
LIMIT :limit

-- name: job_states
SELECT id, state FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(:ids))

-- name: operator_retry
UPDATE conveyor_jobs
SET state = 'queued', attempts = 0, run_at = :now, finished_at = NULL,
    payload = coalesce(:payload, payload)
WHERE id IN (SELECT value FROM json_each(:ids)) AND +state IN ('dead', 'retrying')
RETURNING id

-- name: dead_ids
SELECT id FROM conveyor_jobs WHERE state = 'dead'
  AND (:queue IS NULL OR queue = :queue) AND (:task IS NULL OR task = :task)
ORDER BY id

-- name: dead_since
SELECT count(*) FROM (
    SELECT 1 FROM conveyor_jobs
    WHERE finished_at >= :since AND finished_at IS NOT NULL AND state = 'dead' LIMIT :cap
)

-- name: cancel
-- A job whose code runs is only marked: it keeps its key until its attempt ends (cooperative).
UPDATE conveyor_jobs
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE :now END,
    cancel_requested_at = CASE WHEN state = 'running' THEN coalesce(cancel_requested_at, :now)
                               ELSE cancel_requested_at END
WHERE id IN (SELECT value FROM json_each(:ids))
  AND +state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
RETURNING id, key, batch_id

-- name: delete
DELETE FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(:ids)) AND state != 'running'
RETURNING id, key, batch_id

-- name: stats
-- Unfinished and dead jobs counted whole: conveyor_jobs_state covers the count, grouped in its
-- order. Succeeded and cancelled ones, the bulk of a big table, only those finished within the
-- last `final_window` seconds (INDEXED BY conveyor_jobs_finished: else the planner walks all of
-- conveyor_jobs_state for its GROUP BY order, 2.5 s at 1,000,000 jobs): a count of every
-- finished job is a scan of the table.
SELECT queue, state, count(*) AS n FROM conveyor_jobs
WHERE state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
GROUP BY state, queue
UNION ALL
SELECT queue, state, count(*) AS n FROM conveyor_jobs INDEXED BY conveyor_jobs_finished
WHERE finished_at >= :now - :final_window AND state IN ('succeeded', 'cancelled')
GROUP BY queue, state
ORDER BY 1, 2

-- name: prune_jobs
DELETE FROM conveyor_jobs
WHERE state IN ('succeeded', 'cancelled') AND finished_at < :now - :older_than

-- name: prune_idempotency
DELETE FROM conveyor_idempotency WHERE created_at < :now - :keys_older_than

-- name: blocked_keys
-- `after`: a head's id, the page after it (0: the first page), a range of conveyor_jobs_dead_keyed.
-- INDEXED BY: the planner, without statistics, walks every dead job by conveyor_jobs_state_id.
SELECT d.key, d.id, d.task, d.last_error,
       (SELECT count(*) FROM conveyor_jobs w WHERE w.key = d.key AND w.state = 'waiting') AS waiting
FROM conveyor_jobs d INDEXED BY conveyor_jobs_dead_keyed
WHERE d.state = 'dead' AND d.key IS NOT NULL AND d.id > :after
ORDER BY d.id
LIMIT :limit
