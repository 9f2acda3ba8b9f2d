-- The PostgreSQL schema as migrations/ leave it, all applied: read this, change it only by adding
-- a migration (tests/store/test_schema.py checks that the two agree). `conveyor_migrations`, the
-- migrations' own record, is made by migrate() and not listed here. (There is no 0003 here: it
-- made SQLite's ids never reused, which a sequence already does.)
-- version: 21
-- Times come from the database's clock, so workers on many machines agree.

CREATE TABLE conveyor_jobs (
    id BIGSERIAL PRIMARY KEY,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload JSONB NOT NULL,
    key TEXT,
    leads_key BOOLEAN NOT NULL DEFAULT false,
    idempotency_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL CHECK (state IN
        ('waiting', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    lease_token BIGINT,
    lease_expires_at TIMESTAMPTZ,
    worker_id TEXT,
    last_error TEXT,
    errors JSONB NOT NULL DEFAULT '[]',
    result JSONB,
    -- A running job's cancel is only marked; it ends `cancelled` when its attempt ends.
    cancel_requested_at TIMESTAMPTZ,
    -- Why a job back in the queue without using an attempt waits (rate limit, breaker).
    postponed_reason TEXT,
    -- Its batch and the job that enqueued it (fan-out, 0015); its task's reported progress.
    batch_id BIGINT,
    parent_id BIGINT,
    progress_done BIGINT,
    progress_total BIGINT,
    -- The connection a delivery, an RPC call or a task bound to one is for (0016).
    connection TEXT,
    -- The error class of a dead job's last attempt (0019), for the dead-letter groups.
    error_class TEXT GENERATED ALWAYS AS (errors -> -1 ->> 'type') STORED
);

-- The claim scans this, in claim order; only runnable rows are in it. It covers the claim's
-- filters and the runnable aggregates (`/metrics`' oldest due job, the jobs no worker serves: 0018).
CREATE INDEX conveyor_jobs_runnable ON conveyor_jobs (priority DESC, id) INCLUDE (run_at, queue, task)
    WHERE state IN ('queued', 'retrying');
-- Key heads (the waiting line behind them is conveyor_jobs_next).
CREATE INDEX conveyor_jobs_key ON conveyor_jobs (key, state, id)
    WHERE key IS NOT NULL AND state IN ('queued', 'running', 'retrying', 'dead');
-- The next job to promote: leading jobs first, then the oldest.
CREATE INDEX conveyor_jobs_next ON conveyor_jobs (key, leads_key DESC, id) WHERE state = 'waiting';
CREATE INDEX conveyor_jobs_lease ON conveyor_jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX conveyor_jobs_state ON conveyor_jobs (state, queue);
-- With the id (0021): a `since` page below `before` checks it in the index.
CREATE INDEX conveyor_jobs_finished ON conveyor_jobs (finished_at, id) WHERE finished_at IS NOT NULL;
-- "Everything dead for connection X since T" (0016).
CREATE INDEX conveyor_jobs_connection ON conveyor_jobs (state, connection, finished_at)
    WHERE connection IS NOT NULL;
-- The operator listings (0017): one index per filter, newest first; the `since` window's
-- unfinished jobs (with their state and queue, 0019: the oldest wait per queue and state).
CREATE INDEX conveyor_jobs_state_id ON conveyor_jobs (state, id);
CREATE INDEX conveyor_jobs_task ON conveyor_jobs (task, id);
CREATE INDEX conveyor_jobs_queue ON conveyor_jobs (queue, id);
CREATE INDEX conveyor_jobs_key_id ON conveyor_jobs (key, id) WHERE key IS NOT NULL;
CREATE INDEX conveyor_jobs_unfinished ON conveyor_jobs (created_at) INCLUDE (state, queue)
    WHERE finished_at IS NULL;
-- The blocked keys: dead jobs that hold a key, oldest first (0018).
CREATE INDEX conveyor_jobs_dead_keyed ON conveyor_jobs (id) WHERE state = 'dead' AND key IS NOT NULL;
-- The dead-letter groups: task, connection, error class (0019).
CREATE INDEX conveyor_jobs_dead_groups ON conveyor_jobs
    (task, connection, error_class, finished_at, id) WHERE state = 'dead';

-- Outlives the jobs it points to, so a pruned job's key still dedupes.
CREATE TABLE conveyor_idempotency (
    key TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conveyor_idempotency_created ON conveyor_idempotency (created_at);

-- Wake idle workers on any insert, including rows written by other programs (the outbox).
-- One notification per statement; PostgreSQL folds duplicates within a transaction.
CREATE FUNCTION conveyor_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('conveyor_jobs', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER conveyor_jobs_notify AFTER INSERT ON conveyor_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION conveyor_notify();

-- Shared by every worker process: rate-limit buckets and circuit breakers, per connection name.
-- Times are epoch seconds from the database clock, so every machine agrees.
CREATE TABLE conveyor_rate_limits (
    name TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL
);

CREATE TABLE conveyor_breakers (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures INTEGER NOT NULL DEFAULT 0,
    cool_off DOUBLE PRECISION NOT NULL,
    open_until DOUBLE PRECISION,
    probe_until DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    last_error TEXT
);

-- Connection-wide politeness: 'slowed' (a 429/503) until `until`, 'paused' (a 410 Gone, or an
-- operator) until resumed (`until` NULL); `strikes`: consecutive 429/503s, for the back-off.
CREATE TABLE conveyor_connection_holds (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('slowed', 'paused')),
    until DOUBLE PRECISION,
    reason TEXT NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);

-- Live workers: upserted at start, refreshed every lease/3, deleted on a clean stop; a row
-- unseen for three of its leases is pruned. `queues` NULL: every queue.
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

-- Pull syncs: items (kind and parent empty) and their children, per source and owner; the
-- pages of each owner's last scan; the runs.
CREATE TABLE conveyor_records (
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    external_id TEXT NOT NULL,
    data JSONB NOT NULL,
    content_hash TEXT NOT NULL,
    first_seen_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    deleted_at DOUBLE PRECISION,
    last_run BIGINT NOT NULL,
    PRIMARY KEY (source, owner, kind, parent, external_id)
);
-- The children of one item, whatever their kind (dropping those an item no longer holds).
CREATE INDEX conveyor_records_children ON conveyor_records (source, owner, parent)
    WHERE kind <> '';

-- The pages of the last scan of each owner, by request: the hash of the page's body and the ids
-- on it (an array). A page whose body is byte for byte what it was last time holds no change,
-- so its items are neither hashed nor looked up again; the ids of the pages a run saw
-- (`last_run`) are the items that run saw, for the deletions after a completed scan.
CREATE TABLE conveyor_sync_pages (
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    page_key TEXT NOT NULL,
    body_hash TEXT,
    ids TEXT[] NOT NULL,
    last_run BIGINT NOT NULL,
    PRIMARY KEY (source, owner, page_key)
);

-- One row per sync of one owner; `checkpoint` is the next page to fetch, so a run that crashed
-- resumes there; `cursor` the incremental position it reached; `complete` that it scanned the
-- whole listing (and so marked deletions).
CREATE TABLE conveyor_sync_runs (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    mode TEXT NOT NULL CHECK (mode IN ('incremental', 'full', 'since', 'reextract')),
    since DOUBLE PRECISION,
    started_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    complete BOOLEAN NOT NULL DEFAULT false,
    stats JSONB NOT NULL DEFAULT '{}',
    errors JSONB NOT NULL DEFAULT '[]',
    checkpoint JSONB,
    cursor JSONB
);
-- At most one run of an owner at a time: a second sync resumes it instead.
CREATE UNIQUE INDEX conveyor_sync_runs_running ON conveyor_sync_runs (source, owner)
    WHERE state = 'running';
CREATE INDEX conveyor_sync_runs_owner ON conveyor_sync_runs (source, owner, id);
-- Per-owner accounts of connections, each secret an encrypted envelope (key_id: the key that
-- sealed it); 'needs_reauth': the provider refused the refresh token. Pending OAuth
-- authorisations, by state, until called back once or expired. Epoch seconds.
CREATE TABLE conveyor_accounts (
    connection TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('api_key', 'token', 'oauth')),
    secret TEXT NOT NULL,
    key_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'needs_reauth')),
    reason TEXT,
    expires_at DOUBLE PRECISION,
    refresh_at DOUBLE PRECISION,
    scopes TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (connection, owner)
);

CREATE TABLE conveyor_oauth_states (
    state TEXT PRIMARY KEY,
    connection TEXT NOT NULL,
    owner TEXT NOT NULL,
    verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);

-- Received webhook events (0010): the raw body, the headers worth keeping (never the
-- signature) and the ids of the jobs it was split into, written in one transaction with them.
-- The unique (webhook, event_id) is the dedupe.
CREATE TABLE conveyor_inbound_events (
    id BIGSERIAL PRIMARY KEY,
    webhook TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    headers JSONB NOT NULL,
    body BYTEA NOT NULL,
    job_ids BIGINT[] NOT NULL DEFAULT '{}',
    UNIQUE (webhook, event_id)
);

CREATE TABLE conveyor_tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION
);
-- Schedules (0013): the last fire time of each, so a restarted scheduler catches up what it
-- missed and `schedule list` shows the last run. Epoch seconds.
CREATE TABLE conveyor_schedules (
    name TEXT PRIMARY KEY,
    last_fire_at DOUBLE PRECISION NOT NULL,
    fired_at DOUBLE PRECISION NOT NULL
);
-- Alerts sent (0014), one row per kind, subject (a connection, an owner) and throttle window:
-- the primary key is the cross-process dedupe. Epoch seconds.
CREATE TABLE conveyor_alerts (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (kind, subject, window_start)
);
CREATE INDEX conveyor_alerts_sent ON conveyor_alerts (sent_at);
-- Batches (0015): a group of jobs that reports progress and enqueues one callback job when its
-- last member (children of members included) reaches a final state. `callback_options` is the
-- JSON of each callback task's queue, attempts and priority, resolved when the batch was made.
CREATE TABLE conveyor_batches (
    id BIGSERIAL PRIMARY KEY,
    name TEXT,
    state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
    on_complete TEXT,
    on_failure TEXT,
    payload JSONB,
    callback_options JSONB NOT NULL DEFAULT '{}',
    callback_job_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
-- A batch's members by state (its counts, "is any unfinished?"); jobs outside a batch take no
-- entry, so the hot path writes no more index than before.
CREATE INDEX conveyor_jobs_batch ON conveyor_jobs (batch_id, state) WHERE batch_id IS NOT NULL;
-- A batch's members newest first, for the listing (0020).
CREATE INDEX conveyor_jobs_batch_id ON conveyor_jobs (batch_id, id) WHERE batch_id IS NOT NULL;
CREATE INDEX conveyor_jobs_parent ON conveyor_jobs (parent_id) WHERE parent_id IS NOT NULL;
