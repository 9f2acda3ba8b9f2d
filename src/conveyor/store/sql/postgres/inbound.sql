-- PostgreSQL, the inbound slice: received webhook events. Times come from the database's clock.

-- name: inbound_insert
-- Nothing comes back for an event id the webhook already has (an insert of the same id still
-- in flight is waited for, then counts as known): the caller stores no jobs then.
INSERT INTO conveyor_inbound_events (webhook, event_id, headers, body)
VALUES (%(webhook)s, %(event_id)s, %(headers)s::jsonb, %(body)s)
ON CONFLICT (webhook, event_id) DO NOTHING
RETURNING id

-- name: inbound_set_jobs
UPDATE conveyor_inbound_events SET job_ids = %(job_ids)s WHERE id = %(id)s

-- name: inbound_known_jobs
SELECT job_ids FROM conveyor_inbound_events
WHERE webhook = %(webhook)s AND event_id = %(event_id)s

-- name: inbound_get
SELECT * FROM conveyor_inbound_events WHERE webhook = %(webhook)s AND event_id = %(event_id)s

-- name: inbound_list
SELECT * FROM conveyor_inbound_events
WHERE %(webhook)s::text IS NULL OR webhook = %(webhook)s
ORDER BY id DESC LIMIT %(limit)s
