-- The overview slice: the operator screens' aggregates, each one indexed query.

-- name: overview_finished
-- A range on conveyor_jobs_finished: only the last hour's rows are read.
SELECT CAST(finished_at / 60 AS INTEGER) AS minute, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= :since
GROUP BY minute, state

-- name: overview_oldest
SELECT queue, state, min(created_at) FROM conveyor_jobs
WHERE state IN ('waiting', 'queued', 'running', 'retrying')
GROUP BY queue, state

-- name: overview_dead_groups
SELECT task, coalesce(json_extract(errors, '$[#-1].type'), '') AS error_class, count(*),
       min(finished_at), max(finished_at), max(last_error)
FROM conveyor_jobs
WHERE state = 'dead' AND (:since IS NULL OR finished_at >= :since)
GROUP BY task, error_class
ORDER BY count(*) DESC, task, error_class
LIMIT :limit

-- name: overview_dead_in_group
SELECT * FROM conveyor_jobs
WHERE state = 'dead' AND task = :task
  AND coalesce(json_extract(errors, '$[#-1].type'), '') = :error_class
  AND (:since IS NULL OR finished_at >= :since)
ORDER BY id DESC
LIMIT :limit
