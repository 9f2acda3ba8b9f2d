-- API bearer tokens: the SHA-256 of each (the token is shown once, at creation), by name.
CREATE TABLE conveyor_tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION
);
