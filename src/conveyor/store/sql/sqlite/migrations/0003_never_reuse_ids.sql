-- Job ids are never reused: without AUTOINCREMENT SQLite hands out max(id) + 1, so after a prune
-- or delete a new job could get the id of a pruned one, whose idempotency key still points at it.
-- SQLite cannot add AUTOINCREMENT or CHECK constraints to a table: rebuild it (create, copy, drop,
-- rename, recreate the indexes under their names). The CHECKs keep a value of the wrong type out,
-- whoever writes the row: one text priority used to crash every worker that claimed it.
CREATE TABLE conveyor_jobs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    key TEXT,
    leads_key INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0 CHECK (typeof(priority) = 'integer'),
    state TEXT NOT NULL CHECK (state IN
        ('waiting', 'queued', 'running', 'retrying', 'succeeded', 'dead', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (typeof(attempts) = 'integer'),
    max_attempts INTEGER NOT NULL CHECK (typeof(max_attempts) = 'integer'),
    run_at REAL NOT NULL CHECK (typeof(run_at) IN ('integer', 'real')),
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

-- A row that already holds a value of the wrong type could never run: the runnable ones go dead
-- with the reason (an operator can retry them), while a waiting one keeps its place in its key's line
-- with the value replaced (making it dead would leave two jobs holding the key).
INSERT INTO conveyor_jobs_new (id, task, queue, payload, key, leads_key, idempotency_key,
                               priority, state, attempts, max_attempts, run_at, created_at,
                               started_at, finished_at, lease_token, lease_expires_at, worker_id,
                               last_error, errors, result)
SELECT id, task, queue, payload, key, leads_key, idempotency_key,
       CASE WHEN typeof(priority) = 'integer' THEN priority ELSE 0 END,
       CASE WHEN dying THEN 'dead' ELSE state END,
       CASE WHEN typeof(attempts) = 'integer' THEN attempts ELSE 0 END,
       CASE WHEN typeof(max_attempts) = 'integer' THEN max_attempts ELSE 1 END,
       CASE WHEN typeof(run_at) IN ('integer', 'real') THEN run_at ELSE created_at END,
       created_at, started_at,
       CASE WHEN dying THEN coalesce(finished_at, now) ELSE finished_at END,
       CASE WHEN dying THEN NULL ELSE lease_token END,
       CASE WHEN dying THEN NULL ELSE lease_expires_at END,
       worker_id,
       CASE WHEN dying THEN 'cannot load job: ' || problem ELSE last_error END,
       CASE WHEN dying THEN json_insert(errors, '$[#]', json_object(
           'attempt', CASE WHEN typeof(attempts) = 'integer' THEN attempts ELSE 0 END,
           'at', now, 'type', 'InvalidJob', 'message', 'cannot load job: ' || problem))
       ELSE errors END,
       result
FROM (
    SELECT *, problem IS NOT NULL AND state IN ('queued', 'running', 'retrying') AS dying,
           (julianday('now') - 2440587.5) * 86400.0 AS now
    FROM (
        SELECT *, CASE
            WHEN typeof(priority) != 'integer'
                THEN 'priority ' || substr(quote(priority), 1, 60) || ' is not an integer'
            WHEN typeof(attempts) != 'integer'
                THEN 'attempts ' || substr(quote(attempts), 1, 60) || ' is not an integer'
            WHEN typeof(max_attempts) != 'integer'
                THEN 'max_attempts ' || substr(quote(max_attempts), 1, 60) || ' is not an integer'
            WHEN typeof(run_at) NOT IN ('integer', 'real')
                THEN 'run_at ' || substr(quote(run_at), 1, 60) || ' is not a number'
        END AS problem
        FROM conveyor_jobs
    )
);

DROP TABLE conveyor_jobs;
ALTER TABLE conveyor_jobs_new RENAME TO conveyor_jobs;

-- Never go back, even from an emptied table: past the highest id any job or kept idempotency key
-- ever had (the copy above already set it from the rows it copied).
INSERT INTO sqlite_sequence (name, seq)
SELECT 'conveyor_jobs', 0
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'conveyor_jobs');
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT max(id) FROM conveyor_jobs), 0),
              coalesce((SELECT max(job_id) FROM conveyor_idempotency), 0))
WHERE name = 'conveyor_jobs';

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
