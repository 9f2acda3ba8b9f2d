-- PostgreSQL, the accounts slice: per-owner credentials (encrypted by the application) and
-- pending OAuth authorisations. Times are epoch seconds written by the application (a token's
-- expiry is the provider's lifetime added to the clock of the process that received it).

-- name: account_put
INSERT INTO conveyor_accounts (connection, owner, kind, secret, key_id, state, reason, expires_at,
                               refresh_at, scopes, created_at, updated_at)
VALUES (%(connection)s, %(owner)s, %(kind)s, %(secret)s, %(key_id)s, %(state)s, %(reason)s,
        %(expires_at)s, %(refresh_at)s, %(scopes)s, %(created_at)s, %(updated_at)s)
ON CONFLICT (connection, owner) DO UPDATE SET
    kind = excluded.kind, secret = excluded.secret, key_id = excluded.key_id,
    state = excluded.state, reason = excluded.reason, expires_at = excluded.expires_at,
    refresh_at = excluded.refresh_at, scopes = excluded.scopes, updated_at = excluded.updated_at

-- name: account_get
SELECT * FROM conveyor_accounts WHERE connection = %(connection)s AND owner = %(owner)s

-- name: account_lock
-- The row lock, held until the transaction ends: a second process waits here, then reads the
-- row as the first one left it (READ COMMITTED re-reads a row it waited for).
SELECT * FROM conveyor_accounts WHERE connection = %(connection)s AND owner = %(owner)s
FOR UPDATE

-- name: account_update
-- One statement: a rotated refresh token is stored with its access token, or not at all.
UPDATE conveyor_accounts SET
    kind = %(kind)s, secret = %(secret)s, key_id = %(key_id)s, state = %(state)s,
    reason = %(reason)s, expires_at = %(expires_at)s, refresh_at = %(refresh_at)s,
    scopes = %(scopes)s, updated_at = %(updated_at)s
WHERE connection = %(connection)s AND owner = %(owner)s

-- name: account_list
SELECT * FROM conveyor_accounts
WHERE %(connection)s::text IS NULL OR connection = %(connection)s
ORDER BY connection, owner

-- name: account_remove
DELETE FROM conveyor_accounts WHERE connection = %(connection)s AND owner = %(owner)s

-- name: authorization_put
INSERT INTO conveyor_oauth_states (state, connection, owner, verifier, redirect_uri, expires_at)
VALUES (%(state)s, %(connection)s, %(owner)s, %(verifier)s, %(redirect_uri)s, %(expires_at)s)

-- name: authorization_prune
DELETE FROM conveyor_oauth_states WHERE expires_at < %(now)s

-- name: authorization_take
DELETE FROM conveyor_oauth_states WHERE state = %(state)s
RETURNING state, connection, owner, verifier, redirect_uri, expires_at
