-- The connection a job is for (a delivery's, an RPC call's, a task bound to one), set at enqueue:
-- operators filter by it ("everything dead for connection X since T"). Jobs stored before this
-- migration get it from their payload.
ALTER TABLE conveyor_jobs ADD COLUMN connection TEXT;
UPDATE conveyor_jobs SET connection = payload->>'connection'
WHERE task IN ('conveyor.deliver', 'conveyor.rpc') AND jsonb_typeof(payload->'connection') = 'string';
CREATE INDEX conveyor_jobs_connection ON conveyor_jobs (state, connection, finished_at)
    WHERE connection IS NOT NULL;
