-- Live workers, so operators see which tasks and queues are served: each worker upserts its row
-- at start, refreshes last_seen_at every lease/3 and deletes it on a clean stop. A row unseen for
-- three of its leases belongs to a worker that is gone (killed, its machine lost) and is pruned.
-- Times are Unix epoch seconds (REAL), written by the application.
CREATE TABLE conveyor_workers (
    worker_id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT,
    tasks TEXT NOT NULL,
    lease_seconds REAL NOT NULL,
    started_at REAL NOT NULL,
    last_seen_at REAL NOT NULL
);
