-- GRP_TXT channel: the key name when decrypted, enc_XX when not.
-- +etl add-column transmissions channel_hash TEXT DEFAULT NULL
CREATE INDEX IF NOT EXISTS idx_tx_channel_hash ON transmissions(channel_hash) WHERE payload_type = 5;
-- Backfill, only when the column was just added (an existing column holds
-- what its writer put there).
-- +etl if-added transmissions channel_hash
UPDATE transmissions SET channel_hash = json_extract(decoded_json, '$.channel')
WHERE payload_type = 5 AND channel_hash IS NULL AND json_valid(decoded_json)
  AND json_extract(decoded_json, '$.type') = 'CHAN'
  AND json_extract(decoded_json, '$.channel') IS NOT NULL;
UPDATE transmissions SET channel_hash = 'enc_' || json_extract(decoded_json, '$.channelHashHex')
WHERE payload_type = 5 AND channel_hash IS NULL AND json_valid(decoded_json)
  AND json_extract(decoded_json, '$.type') = 'GRP_TXT'
  AND json_extract(decoded_json, '$.channelHashHex') IS NOT NULL;
