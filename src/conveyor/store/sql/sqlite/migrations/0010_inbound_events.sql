-- Received webhook events: the raw body as it came, the headers worth keeping (never the
-- signature), and the ids of the jobs it was split into, written in the same transaction as
-- those jobs. The unique (webhook, event_id) is the dedupe: a resend of a stored event stores
-- nothing. Times are Unix epoch seconds (REAL), written by the application.
CREATE TABLE conveyor_inbound_events (
    id INTEGER PRIMARY KEY,
    webhook TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    job_ids TEXT NOT NULL DEFAULT '[]',
    UNIQUE (webhook, event_id)
);
