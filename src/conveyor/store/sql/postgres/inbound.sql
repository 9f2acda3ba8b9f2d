-- PostgreSQL, the inbound slice: received webhook events. Times come from the database's clock.

-- name: inbound_insert_many
-- Only the events stored now come back: an id the webhook already has (or one given earlier in
-- the same batch) conflicts and is skipped. An insert of the same id still in flight in another
-- transaction is waited for, then counts as known. Inserted in key order, so two batches
-- sharing ids take the unique index's locks in one order and cannot deadlock. The ids of every
-- event's jobs are taken from the jobs' sequence here (event n: `counts[n]` ids from
-- `starts[n]` on), so the event row is written whole and one round trip is saved; a known
-- event's ids are simply never used.
WITH ids AS MATERIALIZED (
    SELECT nextval('conveyor_jobs_id_seq') AS id, g FROM generate_series(1, %(total)s) AS g
), e AS (
    SELECT * FROM unnest(%(webhooks)s::text[], %(event_ids)s::text[], %(headers)s::text[],
                         %(bodies)s::bytea[], %(starts)s::int[], %(counts)s::int[])
        WITH ORDINALITY AS e(webhook, event_id, headers, body, start, count, n)
)
INSERT INTO conveyor_inbound_events (webhook, event_id, headers, body, job_ids)
SELECT webhook, event_id, headers::jsonb, body,
       ARRAY(SELECT ids.id FROM ids WHERE ids.g > e.start AND ids.g <= e.start + e.count
             ORDER BY ids.g)
FROM e ORDER BY webhook, event_id, n
ON CONFLICT (webhook, event_id) DO NOTHING
RETURNING id, webhook, event_id, job_ids

-- name: inbound_set_jobs_many
UPDATE conveyor_inbound_events AS e SET job_ids = v.job_ids
FROM jsonb_to_recordset(%(rows)s::jsonb) AS v(id BIGINT, job_ids BIGINT[])
WHERE e.id = v.id

-- name: inbound_known_many
SELECT e.webhook, e.event_id, e.job_ids
FROM conveyor_inbound_events AS e
JOIN unnest(%(webhooks)s::text[], %(event_ids)s::text[]) AS k(webhook, event_id)
  ON e.webhook = k.webhook AND e.event_id = k.event_id

-- name: inbound_get
SELECT * FROM conveyor_inbound_events WHERE webhook = %(webhook)s AND event_id = %(event_id)s

-- name: inbound_list
SELECT * FROM conveyor_inbound_events
WHERE %(webhook)s::text IS NULL OR webhook = %(webhook)s
ORDER BY id DESC LIMIT %(limit)s
