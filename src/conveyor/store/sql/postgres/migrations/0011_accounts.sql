-- Per-owner accounts of connections: API keys, tokens and OAuth tokens, each owner's `secret` an
-- encrypted envelope (the application encrypts; `key_id` names the key, for rotation). `state`
-- is 'active' or 'needs_reauth' (the provider refused the refresh token: jobs wait). Pending
-- OAuth authorisations are kept by their `state` until called back once or expired. Times are
-- Unix epoch seconds (DOUBLE PRECISION), written by the application.
CREATE TABLE conveyor_accounts (
    connection TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('api_key', 'token', 'oauth')),
    secret TEXT NOT NULL,
    key_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'needs_reauth')),
    reason TEXT,
    expires_at DOUBLE PRECISION,
    refresh_at DOUBLE PRECISION,
    scopes TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (connection, owner)
);

CREATE TABLE conveyor_oauth_states (
    state TEXT PRIMARY KEY,
    connection TEXT NOT NULL,
    owner TEXT NOT NULL,
    verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
