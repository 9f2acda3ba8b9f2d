-- SQLite, the limits slice: rate-limit buckets and circuit breakers, shared by every worker
-- process on the file. Times are epoch seconds from the application's clock (`now`).

-- name: rate_take
-- Take a token if the request conforms (GCRA); no row back means "not yet".
INSERT INTO conveyor_rate_limits (name, tat) VALUES (:name, :now + :interval)
ON CONFLICT (name) DO UPDATE SET tat = max(tat, :now) + :interval
-- (+ 1 µs: at today's epoch a float sum can round a conforming request just over the line)
WHERE max(tat, :now) + :interval - :now <= :burst * :interval + 0.000001
RETURNING tat

-- name: rate_peek
SELECT tat FROM conveyor_rate_limits WHERE name = :name

-- name: breaker_get
SELECT * FROM conveyor_breakers WHERE name = :name

-- name: breaker_put
INSERT INTO conveyor_breakers (name, state, failures, cool_off, open_until, probe_until,
                               updated_at, last_error)
VALUES (:name, :state, :failures, :cool_off, :open_until, :probe_until, :updated_at, :last_error)
ON CONFLICT (name) DO UPDATE SET
    state = excluded.state, failures = excluded.failures, cool_off = excluded.cool_off,
    open_until = excluded.open_until, probe_until = excluded.probe_until,
    updated_at = excluded.updated_at, last_error = excluded.last_error

-- name: breaker_list
SELECT * FROM conveyor_breakers ORDER BY name

-- name: hold_get
SELECT * FROM conveyor_connection_holds WHERE name = :name

-- name: hold_active
-- A request's look before it goes out, on a connection without a rate limit (one PK lookup).
-- A spent slow-down comes back too (remaining <= 0): the next success clears it.
SELECT *, until - :now AS remaining FROM conveyor_connection_holds WHERE name = :name

-- name: hold_put
INSERT INTO conveyor_connection_holds (name, kind, until, reason, strikes, updated_at)
VALUES (:name, :kind, :until, :reason, :strikes, :updated_at)
ON CONFLICT (name) DO UPDATE SET
    kind = excluded.kind, until = excluded.until, reason = excluded.reason,
    strikes = excluded.strikes, updated_at = excluded.updated_at

-- name: hold_list
SELECT * FROM conveyor_connection_holds ORDER BY name

-- name: hold_delete
DELETE FROM conveyor_connection_holds WHERE name = :name RETURNING *

-- name: hold_delete_spent
-- A success after a slow-down's quiet: the back-off starts from one strike again.
DELETE FROM conveyor_connection_holds WHERE name = :name AND kind = 'slowed' AND until <= :now

-- name: rate_hold
-- A hold on a rate-limited connection moves its bucket on, so every `rate_take` is refused
-- until the hold ends: the hot path needs no second statement.
INSERT INTO conveyor_rate_limits (name, tat) VALUES (:name, :tat)
ON CONFLICT (name) DO UPDATE SET tat = max(tat, excluded.tat)

-- name: rate_release
UPDATE conveyor_rate_limits SET tat = :now WHERE name = :name AND tat > :now

-- name: wake_held
-- A resume: the jobs its pause postponed are due at once (found by their reason, so jobs of
-- the application's own tasks that called the connection are woken too).
UPDATE conveyor_jobs SET run_at = :now
WHERE state IN ('queued', 'retrying') AND postponed_reason IS NOT NULL
  AND substr(postponed_reason, 1, length(:prefix)) = :prefix
