-- The key index holds only the jobs that can be their key's head (queued, running, retrying,
-- dead): what the head checks at enqueue and promotion look up. Waiting jobs have their own index
-- (conveyor_jobs_next), and a finished job no longer takes an entry at its last state change nor
-- stays in this index until pruned (measured: ~4 us less database CPU per keyed job when two
-- worker processes drain keyed jobs on PostgreSQL).
DROP INDEX conveyor_jobs_key;
CREATE INDEX conveyor_jobs_key ON conveyor_jobs (key, state, id)
    WHERE key IS NOT NULL AND state IN ('queued', 'running', 'retrying', 'dead');
