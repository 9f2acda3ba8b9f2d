-- SQLite, the accounts slice: per-owner credentials (encrypted by the application) and pending
-- OAuth authorisations. Times are epoch seconds written by the application.

-- name: account_put
INSERT INTO conveyor_accounts (connection, owner, kind, secret, key_id, state, reason, expires_at,
                               refresh_at, scopes, created_at, updated_at)
VALUES (:connection, :owner, :kind, :secret, :key_id, :state, :reason, :expires_at, :refresh_at,
        :scopes, :created_at, :updated_at)
ON CONFLICT (connection, owner) DO UPDATE SET
    kind = excluded.kind, secret = excluded.secret, key_id = excluded.key_id,
    state = excluded.state, reason = excluded.reason, expires_at = excluded.expires_at,
    refresh_at = excluded.refresh_at, scopes = excluded.scopes, updated_at = excluded.updated_at

-- name: account_get
SELECT * FROM conveyor_accounts WHERE connection = :connection AND owner = :owner

-- name: account_lock
-- Run inside BEGIN IMMEDIATE: the database's one write lock is the account's lock, so this read
-- happens after any other process's refresh committed.
SELECT * FROM conveyor_accounts WHERE connection = :connection AND owner = :owner

-- name: account_update
-- One statement: a rotated refresh token is stored with its access token, or not at all.
UPDATE conveyor_accounts SET
    kind = :kind, secret = :secret, key_id = :key_id, state = :state, reason = :reason,
    expires_at = :expires_at, refresh_at = :refresh_at, scopes = :scopes,
    updated_at = :updated_at
WHERE connection = :connection AND owner = :owner

-- name: account_list
SELECT * FROM conveyor_accounts
WHERE :connection IS NULL OR connection = :connection
ORDER BY connection, owner

-- name: account_remove
DELETE FROM conveyor_accounts WHERE connection = :connection AND owner = :owner

-- name: authorization_put
INSERT INTO conveyor_oauth_states (state, connection, owner, verifier, redirect_uri, expires_at)
VALUES (:state, :connection, :owner, :verifier, :redirect_uri, :expires_at)

-- name: authorization_prune
DELETE FROM conveyor_oauth_states WHERE expires_at < :now

-- name: authorization_take
DELETE FROM conveyor_oauth_states WHERE state = :state
RETURNING state, connection, owner, verifier, redirect_uri, expires_at
