-- The overview slice: the operator screens' aggregates, each one indexed query.

-- name: overview_finished
-- A range on conveyor_jobs_finished: only the last hour's rows are read.
SELECT floor(extract(epoch FROM finished_at) / 60)::bigint AS minute, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= to_timestamp(%(since)s::double precision)
GROUP BY minute, state

-- name: overview_oldest
SELECT queue, state, extract(epoch FROM min(created_at))::double precision FROM conveyor_jobs
WHERE state IN ('waiting', 'queued', 'running', 'retrying')
GROUP BY queue, state

-- name: overview_dead_groups
SELECT task, coalesce(errors -> -1 ->> 'type', '') AS error_class, count(*),
       extract(epoch FROM min(finished_at))::double precision,
       extract(epoch FROM max(finished_at))::double precision, max(last_error)
FROM conveyor_jobs
WHERE state = 'dead'
  AND (%(since)s::double precision IS NULL
       OR finished_at >= to_timestamp(%(since)s::double precision))
GROUP BY task, error_class
ORDER BY count(*) DESC, task, error_class
LIMIT %(limit)s

-- name: overview_dead_in_group
SELECT * FROM conveyor_jobs
WHERE state = 'dead' AND task = %(task)s
  AND coalesce(errors -> -1 ->> 'type', '') = %(error_class)s
  AND (%(since)s::double precision IS NULL
       OR finished_at >= to_timestamp(%(since)s::double precision))
ORDER BY id DESC
LIMIT %(limit)s
