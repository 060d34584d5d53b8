-- The base schema CoreScope's ingestor creates at every open (applySchema,
-- spec/ingestor.md §1.2), with CoreScope's table text so that a new database
-- and an upgraded legacy one have the same columns in the same order.
-- Columns CoreScope added later with ALTER TABLE (channel_hash, from_pubkey,
-- inactive, last_packet_at, foreign_advert, raw_hex) are added by the
-- migrations that follow, in CoreScope's order, exactly as on legacy files.
--
-- Deliberate differences from CoreScope's applySchema:
--  * observations carries resolved_path (CoreScope's server adds it) right
--    after timestamp, the position it has on server-touched legacy files;
--  * the UNIQUE dedup index of observations is created by
--    etl_observations_dedup_v1 after removing duplicates, so that legacy
--    tables get it too (spec §9 #1);
--  * packets_v is created once by etl_packets_view_v1 (spec §9 #24).

CREATE TABLE IF NOT EXISTS nodes (
    public_key TEXT PRIMARY KEY,
    name TEXT,
    role TEXT,
    lat REAL,
    lon REAL,
    last_seen TEXT,
    first_seen TEXT,
    advert_count INTEGER DEFAULT 0,
    battery_mv INTEGER,
    temperature_c REAL
);
CREATE INDEX IF NOT EXISTS idx_nodes_last_seen ON nodes(last_seen);

CREATE TABLE IF NOT EXISTS inactive_nodes (
    public_key TEXT PRIMARY KEY,
    name TEXT,
    role TEXT,
    lat REAL,
    lon REAL,
    last_seen TEXT,
    first_seen TEXT,
    advert_count INTEGER DEFAULT 0,
    battery_mv INTEGER,
    temperature_c REAL
);
CREATE INDEX IF NOT EXISTS idx_inactive_nodes_last_seen ON inactive_nodes(last_seen);

CREATE TABLE IF NOT EXISTS observers (
    id TEXT PRIMARY KEY,
    name TEXT,
    iata TEXT,
    last_seen TEXT,
    first_seen TEXT,
    packet_count INTEGER DEFAULT 0,
    model TEXT,
    firmware TEXT,
    client_version TEXT,
    radio TEXT,
    battery_mv INTEGER,
    uptime_secs INTEGER,
    noise_floor REAL
);
CREATE INDEX IF NOT EXISTS idx_observers_last_seen ON observers(last_seen);

CREATE TABLE IF NOT EXISTS transmissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    raw_hex TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    first_seen TEXT NOT NULL,
    route_type INTEGER,
    payload_type INTEGER,
    payload_version INTEGER,
    decoded_json TEXT,
    created_at TEXT DEFAULT (datetime('now'))
);
-- idx_transmissions_hash is redundant with the UNIQUE autoindex; it is
-- created here because CoreScope does, and dropped by
-- etl_drop_redundant_hash_index_v1.
CREATE INDEX IF NOT EXISTS idx_transmissions_hash ON transmissions(hash);
CREATE INDEX IF NOT EXISTS idx_transmissions_first_seen ON transmissions(first_seen);
CREATE INDEX IF NOT EXISTS idx_transmissions_payload_type ON transmissions(payload_type);

CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transmission_id INTEGER NOT NULL REFERENCES transmissions(id),
    observer_idx INTEGER,
    direction TEXT,
    snr REAL,
    rssi REAL,
    score INTEGER,
    path_json TEXT,
    timestamp INTEGER NOT NULL,
    resolved_path TEXT
);
CREATE INDEX IF NOT EXISTS idx_observations_transmission_id ON observations(transmission_id);
CREATE INDEX IF NOT EXISTS idx_observations_observer_idx ON observations(observer_idx);
CREATE INDEX IF NOT EXISTS idx_observations_timestamp ON observations(timestamp);
