-- SQLite, the inbound slice: received webhook events. Times are epoch seconds (`now`).

-- name: inbound_insert
-- Nothing comes back for an event id the webhook already has: the caller stores no jobs then.
INSERT INTO conveyor_inbound_events (webhook, event_id, received_at, headers, body)
VALUES (:webhook, :event_id, :now, :headers, :body)
ON CONFLICT (webhook, event_id) DO NOTHING
RETURNING id

-- name: inbound_set_jobs
UPDATE conveyor_inbound_events SET job_ids = :job_ids WHERE id = :id

-- name: inbound_known_jobs
SELECT job_ids FROM conveyor_inbound_events WHERE webhook = :webhook AND event_id = :event_id

-- name: inbound_get
SELECT * FROM conveyor_inbound_events WHERE webhook = :webhook AND event_id = :event_id

-- name: inbound_list
SELECT * FROM conveyor_inbound_events
WHERE :webhook IS NULL OR webhook = :webhook
ORDER BY id DESC LIMIT :limit
