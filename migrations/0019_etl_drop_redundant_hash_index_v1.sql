-- spec §9 #24: idx_transmissions_hash duplicates the UNIQUE autoindex of
-- transmissions.hash and only costs writes.
DROP INDEX IF EXISTS idx_transmissions_hash;
