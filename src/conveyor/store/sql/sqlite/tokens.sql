-- The tokens slice: API bearer tokens by the SHA-256 of the token (never the token).

-- name: token_create
INSERT INTO conveyor_tokens (name, hash, created_at) VALUES (:name, :hash, :now)
ON CONFLICT DO NOTHING

-- name: token_list
SELECT name, created_at, last_used_at FROM conveyor_tokens ORDER BY name

-- name: token_revoke
DELETE FROM conveyor_tokens WHERE name = :name

-- name: token_digest
SELECT hash FROM conveyor_tokens WHERE name = :name

-- name: token_check
SELECT name, last_used_at FROM conveyor_tokens WHERE hash = :hash

-- name: token_used
-- Only when the recorded use is older than `every` seconds (another request may have written it).
UPDATE conveyor_tokens SET last_used_at = :now
WHERE hash = :hash AND (last_used_at IS NULL OR last_used_at <= :now - :every)
