-- SQLite dialect. Parameters are named (:name). `now` is passed in by the store.

-- name: insert_job
INSERT INTO conveyor_jobs (task, queue, payload, key, leads_key, idempotency_key, priority, state,
                           max_attempts, run_at, created_at)
VALUES (:task, :queue, :payload, :key, :leads_key, :idempotency_key, :priority, :state,
        :max_attempts, :run_at, :now)

-- name: key_head
SELECT id, state, leads_key FROM conveyor_jobs
WHERE key = :key AND state IN ('queued', 'running', 'retrying', 'dead')

-- name: demote
UPDATE conveyor_jobs SET state = 'waiting' WHERE id = :id AND state = 'queued'

-- name: idempotency_lookup
SELECT job_id FROM conveyor_idempotency WHERE key = :key

-- name: idempotency_insert
INSERT INTO conveyor_idempotency (key, job_id, created_at) VALUES (:key, :job_id, :now)

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
RETURNING id, task, queue, payload, key, attempts, max_attempts, priority

-- name: succeed
-- A cancel requested while the attempt ran wins: the job ends `cancelled`, its result kept.
UPDATE conveyor_jobs
SET state = CASE WHEN cancel_requested_at IS NULL THEN 'succeeded' ELSE 'cancelled' END,
    finished_at = :now, result = :result,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND state = 'running'

-- name: fail_retry
UPDATE conveyor_jobs
SET state = 'retrying', run_at = :now + :delay, last_error = :message,
    errors = json_insert(errors, '$[#]', json(:error)),
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND state = 'running' AND cancel_requested_at IS NULL

-- name: fail_dead
UPDATE conveyor_jobs
SET state = 'dead', finished_at = :now, last_error = :message,
    errors = json_insert(errors, '$[#]', json(:error)),
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND state = 'running' AND cancel_requested_at IS NULL

-- name: hand_back
-- Shutdown (delay 0, no reason) or postponement (with its reason): back to the queue, the attempt
-- not counted.
UPDATE conveyor_jobs
SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = attempts - 1, run_at = :now + :delay, lease_token = NULL, lease_expires_at = NULL,
    postponed_reason = :reason
WHERE id = :id AND lease_token = :token AND state = 'running' AND cancel_requested_at IS NULL

-- name: finish_cancelled
-- Every outcome but success of a job whose cancel was requested (`forced`: the worker says so)
-- ends it `cancelled`: never retried, dead or handed back. An error it raised is kept.
UPDATE conveyor_jobs
SET state = 'cancelled', finished_at = :now, result = coalesce(:result, result),
    last_error = coalesce(:message, last_error),
    errors = CASE WHEN :error IS NULL THEN errors
                  ELSE json_insert(errors, '$[#]', json(:error)) END,
    lease_token = NULL, lease_expires_at = NULL
WHERE id = :id AND lease_token = :token AND state = 'running'
  AND (:forced OR cancel_requested_at IS NOT NULL)
RETURNING key

-- name: cancel_requested
-- The worker's quick look, every half second, at the jobs it runs.
SELECT id FROM conveyor_jobs
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'running'
  AND cancel_requested_at IS NOT NULL

-- name: promote
-- Promote the next job of a key, unless something already holds it. Idempotent.
UPDATE conveyor_jobs SET state = 'queued'
WHERE id = (SELECT id FROM conveyor_jobs WHERE key = :key AND state = 'waiting'
            ORDER BY leads_key DESC, id LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM conveyor_jobs
                  WHERE key = :key AND state IN ('queued', 'running', 'retrying', 'dead'))

-- name: promote_released
-- The key's head just finished under our lease, so nothing else holds the key.
UPDATE conveyor_jobs SET state = 'queued'
WHERE id = (SELECT id FROM conveyor_jobs WHERE key = :key AND state = 'waiting'
            ORDER BY leads_key DESC, id LIMIT 1)

-- name: renew
UPDATE conveyor_jobs SET lease_expires_at = :now + :lease
WHERE id = :id AND lease_token = :token AND state = 'running'

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
RETURNING id, key, state

-- name: next_due
-- Only the jobs this worker would claim: another task's due job must not keep it awake.
SELECT min(run_at) FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
  AND (:all_queues OR queue IN (SELECT value FROM json_each(:queues)))
  AND (:all_tasks OR task IN (SELECT value FROM json_each(:tasks)))

-- name: any_postponed
-- Burst workers: a postponed job is runnable, only throttled.
SELECT EXISTS (SELECT 1 FROM conveyor_jobs
               WHERE state IN ('queued', 'retrying') AND postponed_reason IS NOT NULL
                 AND (:all_queues OR queue IN (SELECT value FROM json_each(:queues)))
                 AND (:all_tasks OR task IN (SELECT value FROM json_each(:tasks))))

-- name: get_job
SELECT * FROM conveyor_jobs WHERE id = :id

-- name: list_jobs
SELECT * FROM conveyor_jobs
WHERE (:state IS NULL OR state = :state)
  AND (:task IS NULL OR task = :task)
  AND (:queue IS NULL OR queue = :queue)
  AND (:key IS NULL OR key = :key)
ORDER BY id DESC
LIMIT :limit

-- name: operator_retry
UPDATE conveyor_jobs
SET state = 'queued', attempts = 0, run_at = :now, finished_at = NULL,
    payload = coalesce(:payload, payload)
WHERE id = :id AND state IN ('dead', 'retrying')
RETURNING id

-- name: dead_ids
SELECT id FROM conveyor_jobs WHERE state = 'dead'
  AND (:queue IS NULL OR queue = :queue) AND (:task IS NULL OR task = :task)
ORDER BY id

-- name: cancel
-- A job whose code runs is only marked: it keeps its key until its attempt ends (cooperative).
UPDATE conveyor_jobs
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE :now END,
    cancel_requested_at = CASE WHEN state = 'running' THEN coalesce(cancel_requested_at, :now)
                               ELSE cancel_requested_at END
WHERE id = :id AND state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
RETURNING id, key

-- name: delete
DELETE FROM conveyor_jobs WHERE id = :id AND state != 'running' RETURNING id, key

-- name: job_state
SELECT state FROM conveyor_jobs WHERE id = :id

-- name: stats
SELECT queue, state, count(*) AS n FROM conveyor_jobs GROUP BY queue, state ORDER BY queue, state

-- name: runnable_counts
SELECT queue, task, count(*) AS n FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
GROUP BY queue, task ORDER BY queue, task

-- name: prune_jobs
DELETE FROM conveyor_jobs
WHERE state IN ('succeeded', 'cancelled') AND finished_at < :before

-- name: prune_idempotency
DELETE FROM conveyor_idempotency WHERE created_at < :before

-- name: blocked_keys
SELECT d.key, d.id, d.task, d.last_error,
       (SELECT count(*) FROM conveyor_jobs w WHERE w.key = d.key AND w.state = 'waiting') AS waiting
FROM conveyor_jobs d
WHERE d.state = 'dead' AND d.key IS NOT NULL
ORDER BY d.id
LIMIT :limit

-- name: rate_take
-- Take a token if the request conforms (GCRA); no row back means "not yet".
INSERT INTO conveyor_rate_limits (name, tat) VALUES (:name, :now + :interval)
ON CONFLICT (name) DO UPDATE SET tat = max(tat, :now) + :interval
-- (+ 1 µs: at today's epoch a float sum can round a conforming request just over the line)
WHERE max(tat, :now) + :interval - :now <= :burst * :interval + 0.000001
RETURNING tat

-- name: rate_peek
SELECT tat FROM conveyor_rate_limits WHERE name = :name

-- name: breaker_get
SELECT * FROM conveyor_breakers WHERE name = :name

-- name: breaker_put
INSERT INTO conveyor_breakers (name, state, failures, cool_off, open_until, probe_until,
                               updated_at, last_error)
VALUES (:name, :state, :failures, :cool_off, :open_until, :probe_until, :updated_at, :last_error)
ON CONFLICT (name) DO UPDATE SET
    state = excluded.state, failures = excluded.failures, cool_off = excluded.cool_off,
    open_until = excluded.open_until, probe_until = excluded.probe_until,
    updated_at = excluded.updated_at, last_error = excluded.last_error

-- name: breaker_list
SELECT * FROM conveyor_breakers ORDER BY name

-- name: database_identity
-- Which file a caller's outbox connection is on (the row named 'main').
PRAGMA database_list

-- name: insert_finished
-- A job run at once in the caller (`run_now(..., persist=True)`), recorded as it ended.
INSERT INTO conveyor_jobs (task, queue, payload, key, priority, state, attempts, max_attempts,
                           run_at, created_at, started_at, finished_at, result, errors, last_error)
VALUES (:task, :queue, :payload, :key, :priority, :state, 1, :max_attempts, :started, :started,
        :started, :now, :result, :errors, :last_error)

-- name: worker_register
-- A worker restarted under the same id (`worker_id=` given) replaces its old row.
INSERT INTO conveyor_workers (worker_id, hostname, pid, queues, tasks, lease_seconds, started_at,
                              last_seen_at)
VALUES (:worker_id, :hostname, :pid, :queues, :tasks, :lease_seconds, :now, :now)
ON CONFLICT (worker_id) DO UPDATE SET
    hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    tasks = excluded.tasks, lease_seconds = excluded.lease_seconds,
    started_at = excluded.started_at, last_seen_at = excluded.last_seen_at

-- name: worker_heartbeat
UPDATE conveyor_workers SET last_seen_at = :now WHERE worker_id = :worker_id

-- name: worker_unregister
DELETE FROM conveyor_workers WHERE worker_id = :worker_id

-- name: worker_list
SELECT * FROM conveyor_workers
WHERE last_seen_at >= :now - :stale_leases * lease_seconds
ORDER BY worker_id

-- name: worker_prune
DELETE FROM conveyor_workers WHERE last_seen_at < :now - :stale_leases * lease_seconds
