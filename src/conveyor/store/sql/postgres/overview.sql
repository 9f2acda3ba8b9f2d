-- The overview slice: the operator screens' aggregates, each one indexed query.

-- name: overview_finished
-- A range on conveyor_jobs_finished: only the last hour's rows are read.
SELECT floor(extract(epoch FROM finished_at) / 60)::bigint AS minute, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= to_timestamp(%(since)s::double precision)
GROUP BY minute, state

-- name: overview_finished_per_second
-- The same range by second, queue and state: the shared tally's reads (finish_tally.py), each
-- of the last few seconds only once it holds the hour.
SELECT floor(extract(epoch FROM finished_at))::bigint AS second, queue, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= to_timestamp(%(since)s::double precision)
GROUP BY second, queue, state

-- name: overview_oldest
-- An index-only scan of conveyor_jobs_unfinished (created_at, with state and queue, 0019): the
-- unfinished states are the jobs without a finish time.
SELECT queue, state, extract(epoch FROM min(created_at))::double precision FROM conveyor_jobs
WHERE finished_at IS NULL AND state IN ('waiting', 'queued', 'running', 'retrying')
GROUP BY queue, state

-- name: overview_live
-- overview_oldest and the live part of `stats` (jobs.sql) at once: the unfinished jobs counted,
-- with their oldest creation time, from conveyor_jobs_unfinished alone, the dead ones from
-- conveyor_jobs_state. The shared reads' counts and oldest waits: a backlog walked once.
SELECT queue, state, count(*), extract(epoch FROM min(created_at))::double precision
FROM conveyor_jobs
WHERE finished_at IS NULL AND state IN ('waiting', 'queued', 'running', 'retrying')
GROUP BY queue, state
UNION ALL
SELECT queue, state, count(*), NULL FROM conveyor_jobs WHERE state = 'dead' GROUP BY state, queue

-- name: overview_dead_groups
-- The dead jobs per task, connection and error class: an index-only scan of
-- conveyor_jobs_dead_groups (0019) in its (task, connection, error_class) order; the largest
-- groups sorted after.
SELECT task, connection, coalesce(error_class, ''), count(*),
       extract(epoch FROM min(finished_at))::double precision,
       extract(epoch FROM max(finished_at))::double precision, max(id)
FROM conveyor_jobs
WHERE state = 'dead' {since}
  AND (%(connection)s::text IS NULL OR connection = %(connection)s::text)
GROUP BY task, connection, conveyor_jobs.error_class
ORDER BY count(*) DESC, task, coalesce(connection, ''), coalesce(conveyor_jobs.error_class, '')
LIMIT %(limit)s

-- name: overview_dead_samples
-- The groups' newest jobs' last errors (their ids from overview_dead_groups): one per group.
SELECT id, last_error FROM conveyor_jobs WHERE id = ANY(%(ids)s::bigint[])

-- name: overview_dead_in_group
-- `{connection}`, `{error_class}`: `=` and the parameter, or `IS NULL` for a group without one;
-- `{since}`: a range on finished_at or nothing (an OR of either is not folded in a prepared
-- statement's generic plan). Ordered as conveyor_jobs_dead_groups is, so the latest deaths are
-- read first even under `IS NULL` (which orders nothing for the planner) and a `since` stops
-- the walk.
SELECT * FROM conveyor_jobs
WHERE state = 'dead' AND task = %(task)s AND connection {connection}
  AND error_class {error_class} {since}
ORDER BY task DESC, connection DESC, error_class DESC, finished_at DESC, id DESC
LIMIT %(limit)s

-- name: overview_jobs_by_id
SELECT * FROM conveyor_jobs WHERE id = ANY(%(ids)s::bigint[])
