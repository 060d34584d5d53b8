CREATE INDEX IF NOT EXISTS idx_observations_timestamp ON observations(timestamp);
