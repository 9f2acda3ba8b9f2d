-- Why a job that is back in the queue without using an attempt waits (rate limit, breaker);
-- NULL for every other job. Burst workers treat such jobs as still runnable.
ALTER TABLE conveyor_jobs ADD COLUMN postponed_reason TEXT;
