-- Shared by every worker process: rate-limit buckets and circuit breakers, per connection name.
-- A bucket is one GCRA "theoretical arrival time" (epoch seconds).
CREATE TABLE conveyor_rate_limits (
    name TEXT PRIMARY KEY,
    tat REAL NOT NULL
);

CREATE TABLE conveyor_breakers (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    failures INTEGER NOT NULL DEFAULT 0,
    cool_off REAL NOT NULL,
    open_until REAL,
    probe_until REAL,
    updated_at REAL NOT NULL,
    last_error TEXT
);
