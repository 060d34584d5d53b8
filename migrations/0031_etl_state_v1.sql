-- Our own durable key-value state (job cursors, heartbeats); CoreScope
-- never reads it.
CREATE TABLE IF NOT EXISTS etl_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
