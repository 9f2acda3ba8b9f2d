-- Connection-wide politeness: a hold stops every request to a connection, from every worker.
-- 'slowed' (a 429/503) until `until`; 'paused' (a 410 Gone, or an operator) until resumed
-- (`until` NULL). `strikes` counts the consecutive 429/503 answers, for the growing back-off.
-- Times are epoch seconds by the store's clock.
CREATE TABLE conveyor_connection_holds (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('slowed', 'paused')),
    until REAL,
    reason TEXT NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
