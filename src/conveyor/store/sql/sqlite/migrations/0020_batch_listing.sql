-- A batch's members newest first (GET /api/jobs?batch_id=, `conveyor jobs list --batch`, the
-- dashboard's link from a batch): 0015's (batch_id, state) finds them, but a page of a big
-- batch then sorted them all (670 ms for a batch of 200,000 on SQLite). Only batch members are
-- in it, and neither column ever changes.
CREATE INDEX conveyor_jobs_batch_id ON conveyor_jobs (batch_id, id) WHERE batch_id IS NOT NULL;
