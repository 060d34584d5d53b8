-- The originating node of an ADVERT (64 lowercase hex), NULL otherwise.
-- +etl add-column transmissions from_pubkey TEXT
CREATE INDEX IF NOT EXISTS idx_transmissions_from_pubkey ON transmissions(from_pubkey);
-- Backfill when the column was just added. CoreScope leaves this to its
-- server (backfillFromPubkeyAsync), which would have to write; we do it here.
-- +etl if-added transmissions from_pubkey
UPDATE transmissions SET from_pubkey = json_extract(decoded_json, '$.pubKey')
WHERE payload_type = 4 AND from_pubkey IS NULL AND json_valid(decoded_json)
  AND json_extract(decoded_json, '$.pubKey') IS NOT NULL;
