-- When the observer last sent a packet (status messages do not count).
-- Declared like CoreScope's server declares it (no DEFAULT clause; the
-- ingestor's DEFAULT NULL is the same thing).
-- +etl add-column observers last_packet_at TEXT
-- Backfill, only when the column was just added.
-- +etl if-added observers last_packet_at
UPDATE observers SET last_packet_at = last_seen
WHERE rowid IN (SELECT DISTINCT observer_idx FROM observations WHERE observer_idx IS NOT NULL);
