-- Alerts sent (0014), one row per kind, subject (a connection, an owner) and throttle window:
-- the primary key is the cross-process dedupe. Epoch seconds.
CREATE TABLE conveyor_alerts (
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start REAL NOT NULL,
    sent_at REAL NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (kind, subject, window_start)
);
CREATE INDEX conveyor_alerts_sent ON conveyor_alerts (sent_at);
