-- The connection a job is for (a delivery's, an RPC call's, a task bound to one), set at enqueue:
-- operators filter by it ("everything dead for connection X since T"). Jobs stored before this
-- migration get it from their payload.
ALTER TABLE conveyor_jobs ADD COLUMN connection TEXT;
UPDATE conveyor_jobs SET connection = json_extract(payload, '$.connection')
WHERE task IN ('conveyor.deliver', 'conveyor.rpc')
  AND json_valid(payload) AND json_type(payload, '$.connection') = 'text';
CREATE INDEX conveyor_jobs_connection ON conveyor_jobs (state, connection, finished_at)
    WHERE connection IS NOT NULL;
