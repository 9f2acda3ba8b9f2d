-- PostgreSQL (psycopg 3), the jobs slice. Parameters are %(name)s; batches travel as arrays.
-- Writes fenced by a lease token match `lease_token = d.token` only: a token is set by the claim
-- and cleared by every transition out of `running`, so it implies the state. (Also testing
-- `state = 'running'` invites the planner, with fresh statistics showing almost no running rows,
-- to drive the join from the lease index and compare every pair: quadratic in the batch size.)
-- Times come from the database's clock, so workers on many machines agree.

-- name: insert_job
INSERT INTO conveyor_jobs (task, queue, payload, key, leads_key, idempotency_key, priority, state,
                           max_attempts, run_at, batch_id, parent_id, connection)
VALUES (%(task)s, %(queue)s, %(payload)s::jsonb, %(key)s, %(leads_key)s, %(idempotency_key)s,
        %(priority)s, %(state)s, %(max_attempts)s,
        coalesce(%(run_at)s, now() + make_interval(secs => %(delay)s)), %(batch_id)s, %(parent_id)s,
        %(connection)s)
RETURNING id

-- name: insert_unkeyed_job
-- The single enqueue's hot path: a job with no key and no idempotency key, by position
-- (task, queue, payload, leads_key, priority, max_attempts, run_at, delay).
INSERT INTO conveyor_jobs (task, queue, payload, leads_key, priority, state, max_attempts, run_at)
VALUES (%s, %s, %s::jsonb, %s, %s, 'queued', %s, coalesce(%s, now() + make_interval(secs => %s)))
RETURNING id

-- name: insert_job_now
-- The commonest of all: runnable now. No coalesce and no interval: measured 28 us less per
-- job than insert_unkeyed_job, interleaved (367 against 339 us a round trip, 1,500 each).
INSERT INTO conveyor_jobs (task, queue, payload, leads_key, priority, state, max_attempts, run_at)
VALUES (%s, %s, %s::jsonb, %s, %s, 'queued', %s, now())
RETURNING id

-- name: insert_jobs
INSERT INTO conveyor_jobs (id, task, queue, payload, key, leads_key, idempotency_key, priority,
                           state, max_attempts, run_at, batch_id, parent_id, connection)
SELECT id, task, queue, payload::jsonb, key, leads_key, ikey, priority, state, max_attempts,
       coalesce(run_at, now() + make_interval(secs => delay)), batch_id, parent_id, connection
FROM unnest(%(ids)s::bigint[], %(tasks)s::text[], %(queues)s::text[], %(payloads)s::text[],
            %(keys)s::text[], %(leads)s::boolean[], %(ikeys)s::text[], %(priorities)s::int[],
            %(states)s::text[], %(max_attempts)s::int[], %(run_ats)s::timestamptz[],
            %(delays)s::float8[], %(batch_ids)s::bigint[], %(parent_ids)s::bigint[],
            %(connections)s::text[])
     AS t(id, task, queue, payload, key, leads_key, ikey, priority, state, max_attempts, run_at,
          delay, batch_id, parent_id, connection)

-- name: allocate_ids
SELECT nextval('conveyor_jobs_id_seq') FROM generate_series(1, %(n)s)

-- name: lock_keys
-- Serialises enqueue and release of the same keys; taken in a fixed order against deadlocks.
-- The lock class is KEY_LOCK (store/postgres/connection.py).
SELECT count(pg_advisory_xact_lock(%(lock)s::int, h))
FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(%(keys)s::text[]) AS k ORDER BY 1) AS s

-- name: key_heads
SELECT key, id, state, leads_key FROM conveyor_jobs
WHERE key = ANY(%(keys)s::text[]) AND state IN ('queued', 'running', 'retrying', 'dead')

-- name: demote
UPDATE conveyor_jobs SET state = 'waiting' WHERE id = %(id)s AND state = 'queued'

-- name: idempotency_claim
-- Keys in sorted order, so that two transactions never wait for each other's keys (deadlock);
-- the job ids were allocated beforehand, in enqueue order.
INSERT INTO conveyor_idempotency (key, job_id)
SELECT k, id FROM unnest(%(keys)s::text[], %(ids)s::bigint[]) AS t(k, id) ORDER BY k
ON CONFLICT (key) DO NOTHING
RETURNING key, job_id

-- name: idempotency_lookup
SELECT key, job_id FROM conveyor_idempotency WHERE key = ANY(%(keys)s::text[])

-- name: database_identity
-- Which database a caller's outbox connection is on: its name and its server's start time.
SELECT current_database(), pg_postmaster_start_time()

-- name: insert_finished
-- A job run at once in the caller (`run_now(..., persist=True)`), recorded as it ended.
INSERT INTO conveyor_jobs (task, queue, payload, key, priority, state, attempts, max_attempts,
                           run_at, created_at, started_at, finished_at, result, errors, last_error,
                           connection)
VALUES (%(task)s, %(queue)s, %(payload)s::jsonb, %(key)s, %(priority)s, %(state)s, 1,
        %(max_attempts)s, to_timestamp(%(started)s), to_timestamp(%(started)s),
        to_timestamp(%(started)s), now(), %(result)s::jsonb, %(errors)s::jsonb, %(last_error)s,
        %(connection)s)
RETURNING id

-- name: claim
WITH picked AS (
    SELECT id FROM conveyor_jobs
    WHERE state IN ('queued', 'retrying') AND run_at <= now()
      AND (%(all_queues)s OR queue = ANY(%(queues)s::text[]))
      AND (%(all_tasks)s OR task = ANY(%(tasks)s::text[]))
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE conveyor_jobs AS j
SET state = 'running', attempts = j.attempts + 1, lease_token = %(token)s,
    worker_id = %(worker)s, started_at = now(),
    lease_expires_at = now() + make_interval(secs => %(lease)s), postponed_reason = NULL
FROM picked WHERE j.id = picked.id
RETURNING j.id, j.task, j.queue, j.payload::text, j.key, j.attempts, j.max_attempts, j.priority,
          j.batch_id

-- name: succeed
-- Finish jobs and promote the next job of each key they held. A key comes back from `done` only
-- if its head was still running under our lease, so nothing else holds it: no further check.
-- A cancel requested while the attempt ran wins: the job ends `cancelled`, its result kept.
WITH done AS (
    UPDATE conveyor_jobs AS j
    SET state = CASE WHEN j.cancel_requested_at IS NULL THEN 'succeeded' ELSE 'cancelled' END,
        finished_at = now(), result = d.result::jsonb,
        lease_token = NULL, lease_expires_at = NULL
    FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(results)s::text[])
         AS d(id, token, result)
    WHERE j.id = d.id AND j.lease_token = d.token
    RETURNING j.key
)
UPDATE conveyor_jobs SET state = 'queued'
WHERE id = ANY(ARRAY(
    SELECT (SELECT w.id FROM conveyor_jobs AS w
            WHERE w.key = done.key AND w.state = 'waiting'
            ORDER BY w.leads_key DESC, w.id LIMIT 1)
    FROM done WHERE done.key IS NOT NULL
))

-- name: succeed_parents
-- `succeed` for the jobs whose outcome carries more (children, a batch): also returns the id
-- and the state each ended in, so that only the children of a success are written.
WITH done AS (
    UPDATE conveyor_jobs AS j
    SET state = CASE WHEN j.cancel_requested_at IS NULL THEN 'succeeded' ELSE 'cancelled' END,
        finished_at = now(), result = d.result::jsonb,
        lease_token = NULL, lease_expires_at = NULL
    FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(results)s::text[])
         AS d(id, token, result)
    WHERE j.id = d.id AND j.lease_token = d.token
    RETURNING j.id, j.key, j.state
), promoted AS (
    UPDATE conveyor_jobs SET state = 'queued'
    WHERE id = ANY(ARRAY(
        SELECT (SELECT w.id FROM conveyor_jobs AS w
                WHERE w.key = done.key AND w.state = 'waiting'
                ORDER BY w.leads_key DESC, w.id LIMIT 1)
        FROM done WHERE done.key IS NOT NULL
    ))
)
SELECT id, state FROM done

-- name: job_progress
-- What running tasks reported, fenced by the lease.
UPDATE conveyor_jobs AS j SET progress_done = d.done, progress_total = d.total
FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(dones)s::bigint[], %(totals)s::bigint[])
     AS d(id, token, done, total)
WHERE j.id = d.id AND j.lease_token = d.token

-- name: fail_retry
UPDATE conveyor_jobs AS j
SET state = 'retrying', run_at = now() + make_interval(secs => d.delay), last_error = d.message,
    errors = j.errors || jsonb_build_array(d.error::jsonb),
    lease_token = NULL, lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(delays)s::float8[],
            %(messages)s::text[], %(errors)s::text[]) AS d(id, token, delay, message, error)
WHERE j.id = d.id AND j.lease_token = d.token AND j.cancel_requested_at IS NULL

-- name: fail_dead
UPDATE conveyor_jobs AS j
SET state = 'dead', finished_at = now(), last_error = d.message,
    errors = j.errors || jsonb_build_array(d.error::jsonb),
    lease_token = NULL, lease_expires_at = NULL
FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(messages)s::text[], %(errors)s::text[])
     AS d(id, token, message, error)
WHERE j.id = d.id AND j.lease_token = d.token AND j.cancel_requested_at IS NULL

-- name: hand_back
-- Shutdown (delay 0, no reason) or postponement (with its reason): back to the queue, the attempt
-- not counted.
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.attempts > 1 THEN 'retrying' ELSE 'queued' END,
    attempts = j.attempts - 1, run_at = now() + make_interval(secs => d.delay),
    lease_token = NULL, lease_expires_at = NULL, postponed_reason = d.reason
FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(delays)s::float8[], %(reasons)s::text[])
    AS d(id, token, delay, reason)
WHERE j.id = d.id AND j.lease_token = d.token AND j.cancel_requested_at IS NULL

-- name: finish_cancelled
-- Every outcome but success of a job whose cancel was requested (`forced`: the worker says so)
-- ends it `cancelled`, never retried, dead or handed back, and promotes the next job of its key
-- (the keys are locked by the caller). An error it raised is kept.
WITH done AS (
    UPDATE conveyor_jobs AS j
    SET state = 'cancelled', finished_at = now(), result = coalesce(d.result::jsonb, j.result),
        last_error = coalesce(d.message, j.last_error),
        errors = CASE WHEN d.error IS NULL THEN j.errors
                      ELSE j.errors || jsonb_build_array(d.error::jsonb) END,
        lease_token = NULL, lease_expires_at = NULL
    FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[], %(forced)s::boolean[],
                %(results)s::text[], %(messages)s::text[], %(errors)s::text[])
         AS d(id, token, forced, result, message, error)
    WHERE j.id = d.id AND j.lease_token = d.token
      AND (d.forced OR j.cancel_requested_at IS NOT NULL)
    RETURNING j.key
)
UPDATE conveyor_jobs SET state = 'queued'
WHERE id = ANY(ARRAY(
    SELECT (SELECT w.id FROM conveyor_jobs AS w
            WHERE w.key = done.key AND w.state = 'waiting'
            ORDER BY w.leads_key DESC, w.id LIMIT 1)
    FROM done WHERE done.key IS NOT NULL
))

-- name: cancel_requested
-- The worker's quick look, every half second, at the jobs it runs.
SELECT id FROM conveyor_jobs
WHERE id = ANY(%(ids)s::bigint[]) AND state = 'running' AND cancel_requested_at IS NOT NULL

-- name: promote
-- Promote the next job of each key, unless something already holds it. Idempotent.
-- (`= ANY(ARRAY(...))` makes the planner look the ids up by primary key, never scan the table.)
UPDATE conveyor_jobs SET state = 'queued'
WHERE id = ANY(ARRAY(
    SELECT (SELECT w.id FROM conveyor_jobs AS w
            WHERE w.key = k.key AND w.state = 'waiting'
            ORDER BY w.leads_key DESC, w.id LIMIT 1)
    FROM unnest(%(keys)s::text[]) AS k(key)
    WHERE NOT EXISTS (SELECT 1 FROM conveyor_jobs AS a
                      WHERE a.key = k.key AND a.state IN ('queued', 'running', 'retrying', 'dead'))
))

-- name: renew
UPDATE conveyor_jobs AS j SET lease_expires_at = now() + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::bigint[], %(tokens)s::bigint[]) AS d(id, token)
WHERE j.id = d.id AND j.lease_token = d.token
RETURNING j.id

-- name: expired_leases
-- Looked at (not locked) first, so that their keys can be locked before the rows: a cancel
-- takes the key's lock, then the row's.
SELECT id, key FROM conveyor_jobs WHERE state = 'running' AND lease_expires_at < now()

-- name: recover_expired
-- A job whose cancel was requested is cancelled, not retried: its code is no longer running.
WITH expired AS (
    SELECT id FROM conveyor_jobs
    WHERE id = ANY(%(ids)s::bigint[]) AND state = 'running' AND lease_expires_at < now()
    FOR UPDATE SKIP LOCKED
)
UPDATE conveyor_jobs AS j
SET state = CASE WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                 WHEN j.attempts >= j.max_attempts THEN 'dead' ELSE 'retrying' END,
    finished_at = CASE WHEN j.cancel_requested_at IS NOT NULL OR j.attempts >= j.max_attempts
                       THEN now() END,
    run_at = now(), last_error = %(message)s,
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'attempt', j.attempts, 'at', extract(epoch FROM now()), 'type', 'LeaseExpired',
        'message', %(message)s::text, 'worker_id', j.worker_id)),
    lease_token = NULL, lease_expires_at = NULL
FROM expired WHERE j.id = expired.id
RETURNING j.id, j.key, j.state, j.batch_id

-- name: seconds_until_due
-- Only the jobs this worker would claim: another task's due job must not keep it awake.
SELECT extract(epoch FROM min(run_at) - now()) FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
  AND (%(all_queues)s OR queue = ANY(%(queues)s::text[]))
  AND (%(all_tasks)s OR task = ANY(%(tasks)s::text[]))

-- name: postponed_jobs
-- Burst workers: a postponed job due soon is runnable, only throttled; one on hold (its reason
-- begins with politeness.ON_HOLD: a paused connection, one no worker here declares) waits for
-- someone. How many of each, when the first throttled one is due, and the span of their run_at.
SELECT count(*), count(*) FILTER (WHERE postponed_reason LIKE 'on hold: %%'),
       extract(epoch FROM min(run_at) FILTER (WHERE postponed_reason NOT LIKE 'on hold: %%')
                          - now()),
       extract(epoch FROM min(run_at)), extract(epoch FROM max(run_at))
FROM conveyor_jobs
WHERE state IN ('queued', 'retrying') AND postponed_reason IS NOT NULL
  AND (%(all_queues)s OR queue = ANY(%(queues)s::text[]))
  AND (%(all_tasks)s OR task = ANY(%(tasks)s::text[]))

-- name: get_job
SELECT * FROM conveyor_jobs WHERE id = %(id)s

-- name: list_jobs
-- `{where}`: the filter's conditions (store/listing.py), each served by an index of 0017:
-- state, task, queue or key with id (the keyset `before`) walk that index newest first.
SELECT * FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT %(limit)s

-- name: list_jobs_since_recent
-- `since` (finished, or created if unfinished), first from the newest jobs the filter's own walk
-- reaches (`walk` of them, store/listing.py): a window of recent times is mostly there, and the
-- walk's cost is bounded whatever the window holds. The planner, left to choose, walked the
-- primary key below `before` through 740,000 rows when a busy hour's 30,000 jobs were all above
-- it (390 ms); by the window's index it read every job of the window, however many.
SELECT * FROM (SELECT * FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT %(walk)s) AS recent
WHERE finished_at >= to_timestamp(%(since)s::double precision)
   OR (finished_at IS NULL AND created_at >= to_timestamp(%(since)s::double precision))
ORDER BY id DESC LIMIT %(limit)s

-- name: list_jobs_since_walked
-- How far that walk got: fewer than `walk` rows and it saw every candidate (its answer is whole).
SELECT count(*) AS walked
FROM (SELECT 1 FROM conveyor_jobs WHERE {where} ORDER BY id DESC LIMIT %(walk)s) AS w

-- name: list_jobs_since
-- The window by its indexes, when the walk did not fill the page: finished jobs by
-- conveyor_jobs_finished (finished_at, id: 0021, `before` is checked in the index, not in every
-- row of the window), the unfinished by conveyor_jobs_unfinished (created_at), each part sorted,
-- merged. `id + 0`: not the primary key's order, which is the walk above.
(SELECT * FROM conveyor_jobs
 WHERE {where} AND finished_at >= to_timestamp(%(since)s::double precision)
 ORDER BY id + 0 DESC LIMIT %(limit)s)
UNION ALL
(SELECT * FROM conveyor_jobs
 WHERE {where} AND finished_at IS NULL
   AND created_at >= to_timestamp(%(since)s::double precision)
 ORDER BY id + 0 DESC LIMIT %(limit)s)
ORDER BY id DESC LIMIT %(limit)s

-- name: list_jobs_by_connection
-- A state and a connection ("everything dead for connection X since T"): the index of (state,
-- connection, finished_at) whatever the plan (`x IS NULL OR` can hide it from a generic plan).
SELECT * FROM conveyor_jobs
WHERE state = %(state)s AND connection = %(connection)s
  AND (%(task)s::text IS NULL OR task = %(task)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(key)s::text IS NULL OR key = %(key)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
  AND (%(since)s::double precision IS NULL
       OR COALESCE(finished_at, created_at) >= to_timestamp(%(since)s::double precision))
  AND (%(error)s::text IS NULL OR last_error ILIKE %(error)s ESCAPE '\')
  AND (%(batch_id)s::bigint IS NULL OR batch_id = %(batch_id)s)
ORDER BY id DESC
LIMIT %(limit)s

-- name: list_finished_by_connection
-- The same for a final state since a time: a finished job's time is its finished_at, so a range
-- of an index (this one, or conveyor_jobs_finished: the planner's pick). `id + 0`: walking the
-- primary key backwards looks cheaper to the planner, and is not when the matches are old or few
-- (200,000 jobs, EXPLAIN ANALYZE: 408 ms walking the key, 1 to 14 ms on the finished index).
SELECT * FROM conveyor_jobs
WHERE state = %(state)s AND connection = %(connection)s
  AND finished_at >= to_timestamp(%(since)s::double precision)
  AND (%(task)s::text IS NULL OR task = %(task)s)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(key)s::text IS NULL OR key = %(key)s)
  AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s)
  AND (%(error)s::text IS NULL OR last_error ILIKE %(error)s ESCAPE '\')
  AND (%(batch_id)s::bigint IS NULL OR batch_id = %(batch_id)s)
ORDER BY id + 0 DESC
LIMIT %(limit)s

-- name: job_states
SELECT id, state FROM conveyor_jobs WHERE id = ANY(%(ids)s::bigint[])

-- name: job_keys
SELECT id, key FROM conveyor_jobs WHERE id = ANY(%(ids)s::bigint[]) AND key IS NOT NULL

-- name: operator_retry
UPDATE conveyor_jobs
SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL,
    payload = coalesce(%(payload)s::jsonb, payload)
WHERE id = ANY(%(ids)s::bigint[]) AND state IN ('dead', 'retrying')
RETURNING id

-- name: dead_since
SELECT count(*) FROM (
    SELECT 1 FROM conveyor_jobs
    WHERE finished_at >= to_timestamp(%(since)s::double precision) AND finished_at IS NOT NULL
      AND state = 'dead'
    LIMIT %(cap)s
) AS recent

-- name: dead_ids
SELECT id FROM conveyor_jobs WHERE state = 'dead'
  AND (%(queue)s::text IS NULL OR queue = %(queue)s)
  AND (%(task)s::text IS NULL OR task = %(task)s)
ORDER BY id

-- name: cancel
-- A job whose code runs is only marked: it keeps its key until its attempt ends (cooperative).
-- One statement for both, so that a job leaving `running` meanwhile is still cancelled.
UPDATE conveyor_jobs
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END,
    cancel_requested_at = CASE WHEN state = 'running' THEN coalesce(cancel_requested_at, now())
                               ELSE cancel_requested_at END
WHERE id = ANY(%(ids)s::bigint[])
  AND state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
RETURNING id, key, batch_id

-- name: delete
DELETE FROM conveyor_jobs WHERE id = ANY(%(ids)s::bigint[]) AND state != 'running'
RETURNING id, key, batch_id

-- name: stats
-- Unfinished and dead jobs counted whole: an index-only scan of conveyor_jobs_state, grouped in
-- its order (a GroupAggregate, no hash: 39 against 68 ms for 60,000 rows); succeeded and
-- cancelled ones, the bulk of a big table, only those finished within the last `final_window`
-- seconds (conveyor_jobs_finished): a count of every finished job is a scan of the table.
SELECT queue, state, count(*) FROM conveyor_jobs
WHERE state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
GROUP BY state, queue
UNION ALL
SELECT queue, state, count(*) FROM conveyor_jobs
WHERE finished_at >= now() - make_interval(secs => %(final_window)s)
  AND state IN ('succeeded', 'cancelled')
GROUP BY queue, state
ORDER BY 1, 2

-- name: prune_jobs
DELETE FROM conveyor_jobs
WHERE state IN ('succeeded', 'cancelled')
  AND finished_at < now() - make_interval(secs => %(older_than)s)

-- name: prune_idempotency
DELETE FROM conveyor_idempotency
WHERE created_at < now() - make_interval(secs => %(keys_older_than)s)

-- name: blocked_keys
-- `after`: a head's id, the page after it (0: the first page), a range of conveyor_jobs_dead_keyed.
SELECT d.key, d.id, d.task, d.last_error,
       (SELECT count(*) FROM conveyor_jobs AS w WHERE w.key = d.key AND w.state = 'waiting')
FROM conveyor_jobs AS d
WHERE d.state = 'dead' AND d.key IS NOT NULL AND d.id > %(after)s
ORDER BY d.id
LIMIT %(limit)s
