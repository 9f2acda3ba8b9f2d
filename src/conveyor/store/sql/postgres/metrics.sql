-- The metrics slice: gauges read at scrape time.

-- name: oldest_due
-- Over the runnable rows only, from the partial index conveyor_jobs_runnable alone (it holds
-- exactly them and covers run_at and queue since 0018), by
-- the database's clock. A job due in the future is not waiting yet.
SELECT queue, extract(epoch FROM now() - min(run_at)) FROM conveyor_jobs
WHERE state IN ('queued', 'retrying') AND run_at <= now()
GROUP BY queue

-- name: runnable_summary
-- oldest_due and runnable_counts (workers.sql) in one index-only scan of conveyor_jobs_runnable:
-- the shared reads' oldest due job and jobs no worker serves, a backlog walked once.
SELECT queue, task, count(*),
       extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::double precision
FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
GROUP BY queue, task
