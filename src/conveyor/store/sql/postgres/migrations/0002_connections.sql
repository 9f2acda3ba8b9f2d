-- Shared by every worker process: rate-limit buckets and circuit breakers, per connection name.
-- Times are epoch seconds from the database clock, so every machine agrees.
CREATE TABLE conveyor_rate_limits (
    name TEXT PRIMARY KEY,
    tat DOUBLE PRECISION NOT NULL
);

CREATE TABLE conveyor_breakers (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures INTEGER NOT NULL DEFAULT 0,
    cool_off DOUBLE PRECISION NOT NULL,
    open_until DOUBLE PRECISION,
    probe_until DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    last_error TEXT
);
