-- The alerts slice: one row per alert sent, by kind, subject and throttle window.

-- name: alert_claim
INSERT INTO conveyor_alerts (kind, subject, window_start, sent_at, text)
VALUES (%(kind)s, %(subject)s, %(window)s, %(now)s, %(text)s)
ON CONFLICT DO NOTHING

-- name: alert_recent
SELECT kind, subject, window_start, sent_at, text FROM conveyor_alerts
ORDER BY sent_at DESC LIMIT %(limit)s
