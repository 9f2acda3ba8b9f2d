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
