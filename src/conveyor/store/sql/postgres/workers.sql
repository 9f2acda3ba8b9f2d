-- PostgreSQL, the workers slice: who runs which tasks, for operators. Times come from the
-- database's clock.

-- name: worker_register
-- A worker restarted under the same id (`worker_id=` given) replaces its old row.
INSERT INTO conveyor_workers (worker_id, hostname, pid, queues, tasks, lease_seconds)
VALUES (%(worker_id)s, %(hostname)s, %(pid)s, %(queues)s::jsonb, %(tasks)s::jsonb,
        %(lease_seconds)s)
ON CONFLICT (worker_id) DO UPDATE SET
    hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    tasks = excluded.tasks, lease_seconds = excluded.lease_seconds,
    started_at = excluded.started_at, last_seen_at = excluded.last_seen_at

-- name: worker_heartbeat
UPDATE conveyor_workers SET last_seen_at = now() WHERE worker_id = %(worker_id)s

-- name: worker_unregister
DELETE FROM conveyor_workers WHERE worker_id = %(worker_id)s

-- name: worker_list
SELECT * FROM conveyor_workers
WHERE last_seen_at >= now() - make_interval(secs => %(stale_leases)s * lease_seconds)
ORDER BY worker_id

-- name: worker_prune
DELETE FROM conveyor_workers
WHERE last_seen_at < now() - make_interval(secs => %(stale_leases)s * lease_seconds)

-- name: runnable_counts
SELECT queue, task, count(*) FROM conveyor_jobs
WHERE state IN ('queued', 'retrying')
GROUP BY queue, task ORDER BY queue, task
