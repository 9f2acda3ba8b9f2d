-- PostgreSQL, the wake-ups slice: idle workers LISTEN; inserts (a statement trigger, see
-- migrations/0001) and promotions NOTIFY.

-- name: notify
SELECT pg_notify('conveyor_jobs', '')

-- name: listen
LISTEN conveyor_jobs
