-- The schedules slice: the last fire time of each schedule (epoch seconds).

-- name: schedule_last_fires
SELECT name, last_fire_at, fired_at FROM conveyor_schedules ORDER BY name

-- name: schedule_mark
INSERT INTO conveyor_schedules (name, last_fire_at, fired_at) VALUES (:name, :fire, :now)
ON CONFLICT (name) DO UPDATE SET
    last_fire_at = max(conveyor_schedules.last_fire_at, excluded.last_fire_at),
    fired_at = excluded.fired_at

-- name: schedule_claim
INSERT INTO conveyor_schedules (name, last_fire_at, fired_at) VALUES (:name, :fire, :now)
ON CONFLICT (name) DO UPDATE SET last_fire_at = excluded.last_fire_at, fired_at = excluded.fired_at
WHERE conveyor_schedules.last_fire_at < excluded.last_fire_at
