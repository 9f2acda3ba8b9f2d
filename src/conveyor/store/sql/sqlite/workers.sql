-- SQLite, the workers slice: who runs which tasks, for operators. Times are epoch seconds (`now`).

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

-- name: runnable_counts
-- INDEXED BY: the runnable rows only; left to itself the planner walks all of conveyor_jobs_queue
-- (0017) for its GROUP BY order (947 ms at 1,000,000 jobs, against 30 ms).
SELECT queue, task, count(*) AS n FROM conveyor_jobs INDEXED BY conveyor_jobs_runnable
WHERE state IN ('queued', 'retrying')
GROUP BY queue, task ORDER BY queue, task
