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

-- name: hold_get
SELECT * FROM conveyor_connection_holds WHERE name = %(name)s

-- name: hold_active
-- A request's look before it goes out, on a connection without a rate limit (one PK lookup).
-- A spent slow-down comes back too (remaining <= 0): the next success clears it.
SELECT *, until - extract(epoch FROM now())::float8 AS remaining
FROM conveyor_connection_holds WHERE name = %(name)s

-- name: hold_put
INSERT INTO conveyor_connection_holds (name, kind, until, reason, strikes, updated_at)
VALUES (%(name)s, %(kind)s, %(until)s, %(reason)s, %(strikes)s, %(updated_at)s)
ON CONFLICT (name) DO UPDATE SET
    kind = excluded.kind, until = excluded.until, reason = excluded.reason,
    strikes = excluded.strikes, updated_at = excluded.updated_at

-- name: hold_list
SELECT * FROM conveyor_connection_holds ORDER BY name

-- name: hold_delete
DELETE FROM conveyor_connection_holds WHERE name = %(name)s RETURNING *

-- name: hold_delete_spent
-- A success after a slow-down's quiet: the back-off starts from one strike again.
DELETE FROM conveyor_connection_holds
WHERE name = %(name)s AND kind = 'slowed' AND until <= extract(epoch FROM now())::float8

-- name: hold_lock
-- The lock class is HOLD_LOCK (store/postgres/connection.py).
SELECT pg_advisory_xact_lock(%(lock)s::int, hashtext(%(name)s))

-- name: rate_hold
-- A hold on a rate-limited connection moves its bucket on, so every `rate_take` is refused
-- until the hold ends: the hot path needs no second statement.
INSERT INTO conveyor_rate_limits AS r (name, tat) VALUES (%(name)s, %(tat)s)
ON CONFLICT (name) DO UPDATE SET tat = greatest(r.tat, excluded.tat)

-- name: rate_release
UPDATE conveyor_rate_limits SET tat = extract(epoch FROM now())::float8
WHERE name = %(name)s AND tat > extract(epoch FROM now())::float8

-- name: wake_held
-- A resume: the jobs its pause postponed are due at once (found by their reason, so jobs of
-- the application's own tasks that called the connection are woken too).
UPDATE conveyor_jobs SET run_at = now()
WHERE state IN ('queued', 'retrying') AND postponed_reason IS NOT NULL
  AND substr(postponed_reason, 1, length(%(prefix)s)) = %(prefix)s
