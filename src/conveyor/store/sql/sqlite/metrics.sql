-- The metrics slice: gauges read at scrape time.

-- name: oldest_due
-- Over the runnable rows only, from the partial index conveyor_jobs_runnable alone (it holds
-- exactly them and covers run_at and queue since 0018). A job due in the future is not
-- waiting yet.
SELECT queue, :now - min(run_at) FROM conveyor_jobs INDEXED BY conveyor_jobs_runnable
WHERE state IN ('queued', 'retrying') AND run_at <= :now
GROUP BY queue

-- name: runnable_summary
-- oldest_due and runnable_counts (workers.sql) in one covering walk of conveyor_jobs_runnable
-- (INDEXED BY, as runnable_counts): the shared reads' oldest due job and jobs no worker serves,
-- a backlog walked once.
SELECT queue, task, count(*) AS n, :now - min(CASE WHEN run_at <= :now THEN run_at END)
FROM conveyor_jobs INDEXED BY conveyor_jobs_runnable
WHERE state IN ('queued', 'retrying')
GROUP BY queue, task
