-- PostgreSQL, the limits slice: rate-limit buckets and circuit breakers, shared by every worker.
-- Times are epoch seconds from the database's clock, so workers on many machines agree.

-- name: clock
SELECT extract(epoch FROM now())::float8

-- name: rate_take
-- Take a token if the request conforms (GCRA); no row back means "not yet". Run in autocommit,
-- so now() is this statement's own time.
INSERT INTO conveyor_rate_limits AS r (name, tat)
VALUES (%(name)s, extract(epoch FROM now())::float8 + %(interval)s)
ON CONFLICT (name) DO UPDATE
SET tat = greatest(r.tat, extract(epoch FROM now())::float8) + %(interval)s
WHERE greatest(r.tat, extract(epoch FROM now())::float8) + %(interval)s
      - extract(epoch FROM now())::float8 <= %(burst)s * %(interval)s + 0.000001
-- (+ 1 µs: at today's epoch a float sum can round a conforming request just over the line)
RETURNING tat

-- name: rate_peek
SELECT tat, extract(epoch FROM now())::float8 FROM conveyor_rate_limits WHERE name = %(name)s

-- name: breaker_get
SELECT * FROM conveyor_breakers WHERE name = %(name)s

-- name: breaker_put
INSERT INTO conveyor_breakers (name, state, failures, cool_off, open_until, probe_until,
                               updated_at, last_error)
VALUES (%(name)s, %(state)s, %(failures)s, %(cool_off)s, %(open_until)s, %(probe_until)s,
        %(updated_at)s, %(last_error)s)
ON CONFLICT (name) DO UPDATE SET
    state = excluded.state, failures = excluded.failures, cool_off = excluded.cool_off,
    open_until = excluded.open_until, probe_until = excluded.probe_until,
    updated_at = excluded.updated_at, last_error = excluded.last_error

-- name: breaker_list
SELECT * FROM conveyor_breakers ORDER BY name

-- name: breaker_lock
-- Locks the row, or (first use) the name, so two workers cannot both change it.
-- The lock class is BREAKER_LOCK (store/postgres/connection.py).
SELECT pg_advisory_xact_lock(%(lock)s::int, hashtext(%(name)s))
