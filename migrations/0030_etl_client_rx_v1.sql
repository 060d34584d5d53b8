-- Mobile client RX coverage (head.md §2.16, opt-in), with CoreScope's DDL.
CREATE TABLE IF NOT EXISTS client_receptions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rx_pubkey     TEXT NOT NULL,
    heard_key     TEXT NOT NULL,
    heard_keylen  INTEGER NOT NULL,
    rssi          INTEGER,
    snr           REAL,
    lat           REAL NOT NULL,
    lon           REAL NOT NULL,
    pos_acc_m     REAL,
    rx_at         TEXT NOT NULL,
    ingested_at   TEXT NOT NULL,
    src           TEXT NOT NULL,
    UNIQUE(rx_pubkey, heard_key, rx_at)
);
CREATE INDEX IF NOT EXISTS idx_client_recept_heard_geo ON client_receptions(heard_key, heard_keylen, lat, lon);
CREATE INDEX IF NOT EXISTS idx_client_recept_latlon ON client_receptions(lat, lon);
CREATE INDEX IF NOT EXISTS idx_client_recept_rxat ON client_receptions(rx_at);
-- An index of an intermediate CoreScope version.
DROP INDEX IF EXISTS idx_client_recept_rxpk;
CREATE TABLE IF NOT EXISTS client_observers (
    pubkey    TEXT PRIMARY KEY,
    name      TEXT,
    last_seen TEXT
);
