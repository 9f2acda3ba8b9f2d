-- The runnable index covers what is asked of the runnable jobs (0018): the claim's due time,
-- queue and task filters, `/metrics`' oldest due job per queue and the dashboard's jobs no
-- worker serves, read from the index (an index-only scan where the visibility map allows). The
-- index has as many entries as before, each a little wider: a claim and an enqueue write no
-- more entries than they did.
DROP INDEX conveyor_jobs_runnable;
CREATE INDEX conveyor_jobs_runnable ON conveyor_jobs (priority DESC, id) INCLUDE (run_at, queue, task)
    WHERE state IN ('queued', 'retrying');
