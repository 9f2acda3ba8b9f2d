-- Schedules (0013): the last fire time of each, so a restarted scheduler catches up what it
-- missed and `schedule list` shows the last run. Epoch seconds.
CREATE TABLE conveyor_schedules (
    name TEXT PRIMARY KEY,
    last_fire_at REAL NOT NULL,
    fired_at REAL NOT NULL
);
