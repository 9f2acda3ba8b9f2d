-- Batches (0015): a group of jobs that reports progress and enqueues one callback job when its
-- last member (children of members included) reaches a final state. `callback_options` is the
-- JSON of each callback task's queue, attempts and priority, resolved when the batch was made.
CREATE TABLE conveyor_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
    on_complete TEXT,
    on_failure TEXT,
    payload TEXT,
    callback_options TEXT NOT NULL DEFAULT '{}',
    callback_job_id INTEGER,
    created_at REAL NOT NULL,
    finished_at REAL
);
-- A job's batch and the job that enqueued it (fan-out); a task's reported progress.
ALTER TABLE conveyor_jobs ADD COLUMN batch_id INTEGER;
ALTER TABLE conveyor_jobs ADD COLUMN parent_id INTEGER;
ALTER TABLE conveyor_jobs ADD COLUMN progress_done INTEGER;
ALTER TABLE conveyor_jobs ADD COLUMN progress_total INTEGER;
-- A batch's members by state (its counts, "is any unfinished?"); jobs outside a batch take no
-- entry, so the hot path writes no more index than before.
CREATE INDEX conveyor_jobs_batch ON conveyor_jobs (batch_id, state) WHERE batch_id IS NOT NULL;
CREATE INDEX conveyor_jobs_parent ON conveyor_jobs (parent_id) WHERE parent_id IS NOT NULL;
