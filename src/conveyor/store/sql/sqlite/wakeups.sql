-- SQLite, the wake-ups slice. SQLite has no notifications: idle workers poll a counter that moves
-- when another connection commits.

-- name: change_counter
PRAGMA data_version
