-- Timestamps are Unix epoch seconds (REAL), written by the application.
CREATE TABLE conveyor_jobs (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    key TEXT,
    leads_key INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN
        ('waiting', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at REAL NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    lease_token INTEGER,
    lease_expires_at REAL,
    worker_id TEXT,
    last_error TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    result TEXT
);

-- The claim scans this, in claim order; only runnable rows are in it.
CREATE INDEX conveyor_jobs_runnable ON conveyor_jobs (priority DESC, id)
    WHERE state IN ('queued', 'retrying');
-- Key heads and the waiting line behind them.
CREATE INDEX conveyor_jobs_key ON conveyor_jobs (key, state, id) WHERE key IS NOT NULL;
-- The next job to promote: leading jobs first, then the oldest.
CREATE INDEX conveyor_jobs_next ON conveyor_jobs (key, leads_key DESC, id) WHERE state = 'waiting';
CREATE INDEX conveyor_jobs_lease ON conveyor_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX conveyor_jobs_state ON conveyor_jobs (state, queue);
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Outlives the jobs it points to, so a pruned job's key still dedupes.
CREATE TABLE conveyor_idempotency (
    key TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX conveyor_idempotency_created ON conveyor_idempotency (created_at);
