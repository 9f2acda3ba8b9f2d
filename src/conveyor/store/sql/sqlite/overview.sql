-- The overview slice: the operator screens' aggregates, each one indexed query.

-- name: overview_finished
-- A range on conveyor_jobs_finished: only the last hour's rows are read.
SELECT CAST(finished_at / 60 AS INTEGER) AS minute, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= :since
GROUP BY minute, state

-- name: overview_finished_per_second
-- The same range by second, queue and state: the shared tally's reads (finish_tally.py), each
-- of the last few seconds only once it holds the hour.
SELECT CAST(finished_at AS INTEGER) AS second, queue, state, count(*)
FROM conveyor_jobs
WHERE finished_at IS NOT NULL AND finished_at >= :since
GROUP BY second, queue, state

-- name: overview_oldest
-- The oldest job of a queue and state is its smallest id (ids are given in creation order, by
-- one writer at a time): min(id) from conveyor_jobs_state (state, queue and the rowid every
-- index ends with), a covering walk of the unfinished jobs' entries, then those few rows.
SELECT j.queue, j.state, j.created_at
FROM (SELECT min(id) AS id FROM conveyor_jobs
      WHERE state IN ('waiting', 'queued', 'running', 'retrying')
      GROUP BY state, queue) AS oldest
JOIN conveyor_jobs AS j ON j.id = oldest.id

-- name: overview_live
-- overview_oldest and the live part of `stats` (jobs.sql) at once: one covering walk of
-- conveyor_jobs_state counts each unfinished state's and dead's jobs per queue and finds the
-- smallest id, whose creation time is the oldest; the shared reads' counts and oldest waits.
SELECT j.queue, j.state, live.n, CASE WHEN j.state = 'dead' THEN NULL ELSE j.created_at END
FROM (SELECT min(id) AS id, count(*) AS n FROM conveyor_jobs
      WHERE state IN ('waiting', 'queued', 'running', 'retrying', 'dead')
      GROUP BY state, queue) AS live
JOIN conveyor_jobs AS j ON j.id = live.id

-- name: overview_dead_groups
-- The dead jobs per task, connection and error class: a walk of conveyor_jobs_dead_groups (0019)
-- alone, in its (task, connection, error_class) order; the largest groups sorted after.
SELECT task, connection, coalesce(error_class, ''), count(*), min(finished_at), max(finished_at),
       max(id)
FROM conveyor_jobs
WHERE state = 'dead' {since}
  AND (:connection IS NULL OR connection = :connection)
GROUP BY task, connection, conveyor_jobs.error_class
ORDER BY count(*) DESC, task, coalesce(connection, ''), coalesce(conveyor_jobs.error_class, '')
LIMIT :limit

-- name: overview_dead_samples
-- The groups' newest jobs' last errors (their ids from overview_dead_groups): one per group.
SELECT id, last_error FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(:ids))

-- name: overview_dead_in_group
-- `{connection}`, `{error_class}`: `= :...`, or `IS NULL` for a group without one; `{since}`:
-- a range on finished_at or nothing. The latest deaths first along conveyor_jobs_dead_groups
-- (task, connection, error_class, finished_at, id), so a `since` stops the walk.
SELECT * FROM conveyor_jobs
WHERE state = 'dead' AND task = :task AND connection {connection}
  AND error_class {error_class} {since}
ORDER BY finished_at DESC, id DESC
LIMIT :limit

-- name: overview_jobs_by_id
SELECT * FROM conveyor_jobs WHERE id IN (SELECT value FROM json_each(:ids))
