-- Cancelling a running job only marks it (epoch seconds); the job ends `cancelled`, and its key
-- is released, when its attempt ends or its lease expires.
ALTER TABLE conveyor_jobs ADD COLUMN cancel_requested_at REAL;
