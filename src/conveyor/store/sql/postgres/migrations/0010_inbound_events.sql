-- Received webhook events: the raw body as it came, the headers worth keeping (never the
-- signature), and the ids of the jobs it was split into, written in the same transaction as
-- those jobs. The unique (webhook, event_id) is the dedupe: a resend of a stored event stores
-- nothing (a concurrent one waits for the first insert's transaction, then stores nothing).
CREATE TABLE conveyor_inbound_events (
    id BIGSERIAL PRIMARY KEY,
    webhook TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    headers JSONB NOT NULL,
    body BYTEA NOT NULL,
    job_ids BIGINT[] NOT NULL DEFAULT '{}',
    UNIQUE (webhook, event_id)
);
