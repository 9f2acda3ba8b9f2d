-- Live workers, so operators see which tasks and queues are served: each worker upserts its row
-- at start, refreshes last_seen_at every lease/3 and deletes it on a clean stop. A row unseen for
-- three of its leases belongs to a worker that is gone (killed, its machine lost) and is pruned.
-- `queues` NULL: every queue. Times come from the database clock.
CREATE TABLE conveyor_workers (
    worker_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues JSONB,
    tasks JSONB NOT NULL,
    lease_seconds DOUBLE PRECISION NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
