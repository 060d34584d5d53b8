-- Unix seconds of a transmission's newest observation (head.md §2.7); 0 =
-- unknown. The server hot-loads by it, so rows still at 0 are invisible to
-- a server with a retention window until the startup job backfillLastSeen
-- has set them from observations (it walks idx_tx_last_seen_zero; the
-- composite index makes each MAX(timestamp) one index probe). The backfill
-- is not done here: one UPDATE over millions of rows would hold the write
-- lock for minutes before ingest starts.
CREATE INDEX IF NOT EXISTS idx_observations_tx_ts ON observations(transmission_id, timestamp);
-- +etl add-column transmissions last_seen INTEGER NOT NULL DEFAULT 0
CREATE INDEX IF NOT EXISTS idx_tx_last_seen_zero ON transmissions(id) WHERE last_seen = 0;
-- A full index of an intermediate CoreScope version (#1740).
DROP INDEX IF EXISTS idx_tx_last_seen;
