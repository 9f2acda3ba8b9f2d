-- The dead-letter groups (0019): dead jobs per task, connection and error class (the `type` of
-- the last attempt record). The class is a generated column, so the group's index holds it and
-- the grouping reads only that index (an index-only scan of the dead jobs): over an expression
-- of `errors` it read every dead job's row, 30,000 at 1,000,000 jobs. Adding a stored generated
-- column rewrites the table once (seconds per million jobs, the table locked meanwhile).
ALTER TABLE conveyor_jobs ADD COLUMN error_class TEXT
    GENERATED ALWAYS AS (errors -> -1 ->> 'type') STORED;
CREATE INDEX conveyor_jobs_dead_groups ON conveyor_jobs
    (task, connection, error_class, finished_at, id) WHERE state = 'dead';
-- The overview's oldest unfinished job per queue and state, index-only too: the unfinished
-- jobs' index of 0017, with their state and queue (the runnable aggregates read the claim's
-- index since 0018). No more index writes: an update of a job rewrites every index entry of its
-- row already (never a HOT one).
DROP INDEX conveyor_jobs_unfinished;
CREATE INDEX conveyor_jobs_unfinished ON conveyor_jobs (created_at) INCLUDE (state, queue)
    WHERE finished_at IS NULL;
