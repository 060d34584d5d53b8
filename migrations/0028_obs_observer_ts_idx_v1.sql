-- Serves the server's packets-last-hour per observer (head.md §1.2 (4)).
-- CoreScope builds it in the background; here it is built before ingest
-- starts, and recorded as done in _async_migrations too.
CREATE INDEX IF NOT EXISTS idx_observations_observer_idx_timestamp ON observations(observer_idx, timestamp);
INSERT INTO _async_migrations (name, status, started_at, ended_at)
VALUES ('obs_observer_ts_idx_v1', 'done', datetime('now'), datetime('now'))
ON CONFLICT (name) DO UPDATE SET status = 'done', ended_at = excluded.ended_at, error = NULL;
