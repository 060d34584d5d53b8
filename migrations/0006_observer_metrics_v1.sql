-- One row per observer and sample bucket (RFC 3339 UTC, rounded to the
-- sample interval); the last status of a bucket replaces the row.
CREATE TABLE IF NOT EXISTS observer_metrics (
    observer_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    noise_floor REAL,
    tx_air_secs INTEGER,
    rx_air_secs INTEGER,
    recv_errors INTEGER,
    battery_mv INTEGER,
    PRIMARY KEY (observer_id, timestamp)
);
