-- CoreScope's bookkeeping of its background migrations (head.md §1.2 (4)),
-- created exactly as CoreScope does. A row is 'done' only once our
-- equivalent work is done, so that CoreScope's ingestor, given the file
-- back, skips exactly what is finished and redoes the rest.
CREATE TABLE IF NOT EXISTS _async_migrations (
    name       TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT (datetime('now')),
    ended_at   TEXT,
    error      TEXT
);
