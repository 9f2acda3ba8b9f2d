-- The operator listings (0017): each filter of GET /api/jobs walks its own index newest first
-- (the id is the keyset page's `before`), and the `since` window's unfinished jobs have theirs
-- (the finished ones use conveyor_jobs_finished). Without them a listing at 1,000,000 jobs
-- scanned the table until it had a page: a rare task or key, a deep page, an empty window.
CREATE INDEX conveyor_jobs_state_id ON conveyor_jobs (state, id);
CREATE INDEX conveyor_jobs_task ON conveyor_jobs (task, id);
CREATE INDEX conveyor_jobs_queue ON conveyor_jobs (queue, id);
CREATE INDEX conveyor_jobs_key_id ON conveyor_jobs (key, id) WHERE key IS NOT NULL;
CREATE INDEX conveyor_jobs_unfinished ON conveyor_jobs (created_at) WHERE finished_at IS NULL;
