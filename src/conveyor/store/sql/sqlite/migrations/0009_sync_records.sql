-- Pull syncs: the local copy of each remote collection, per owner, and the runs that fill it.
-- A record is one item (kind '' and parent '') or one child extracted from an item (kind: the
-- child's name, parent: the item's external id); `last_run` is the run that last wrote it.
-- Times are Unix epoch seconds (REAL), written by the application.
CREATE TABLE conveyor_records (
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    external_id TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_seen_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    deleted_at REAL,
    last_run INTEGER NOT NULL,
    PRIMARY KEY (source, owner, kind, parent, external_id)
);
-- The children of one item, whatever their kind (dropping those an item no longer holds).
CREATE INDEX conveyor_records_children ON conveyor_records (source, owner, parent)
    WHERE kind <> '';

-- The pages of the last scan of each owner, by request: the hash of the page's body and the ids
-- on it (a JSON array). A page whose body is byte for byte what it was last time holds no change,
-- so its items are neither hashed nor looked up again; the ids of the pages a run saw
-- (`last_run`) are the items that run saw, for the deletions after a completed scan.
CREATE TABLE conveyor_sync_pages (
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    page_key TEXT NOT NULL,
    body_hash TEXT,
    ids TEXT NOT NULL,
    last_run INTEGER NOT NULL,
    PRIMARY KEY (source, owner, page_key)
);

-- One row per sync of one owner; `checkpoint` is the next page to fetch, so a run that crashed
-- resumes there; `cursor` the incremental position it reached; `complete` that it scanned the
-- whole listing (and so marked deletions).
CREATE TABLE conveyor_sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    owner TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    mode TEXT NOT NULL CHECK (mode IN ('incremental', 'full', 'since', 'reextract')),
    since REAL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    complete INTEGER NOT NULL DEFAULT 0,
    stats TEXT NOT NULL DEFAULT '{}',
    errors TEXT NOT NULL DEFAULT '[]',
    checkpoint TEXT,
    cursor TEXT
);
-- At most one run of an owner at a time: a second sync resumes it instead.
CREATE UNIQUE INDEX conveyor_sync_runs_running ON conveyor_sync_runs (source, owner)
    WHERE state = 'running';
CREATE INDEX conveyor_sync_runs_owner ON conveyor_sync_runs (source, owner, id);
