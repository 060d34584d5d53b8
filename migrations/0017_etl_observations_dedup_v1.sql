-- spec §9 #1: legacy observations tables never got the UNIQUE dedup index,
-- so CoreScope's upsert failed on every insert. Remove exact duplicates
-- (same transmission, same observer, same path), keeping the lowest id,
-- then create the index CoreScope creates with a new table.
--
-- Rows with a NULL observer_idx are not touched: the UNIQUE index treats
-- NULLs as distinct, and such rows (CoreScope's first packet of a new
-- observer, spec §9 #4) may come from different observers.
DELETE FROM observations
WHERE observer_idx IS NOT NULL
  AND EXISTS (
    SELECT 1 FROM observations AS o
    WHERE o.transmission_id = observations.transmission_id
      AND o.observer_idx = observations.observer_idx
      AND COALESCE(o.path_json, '') = COALESCE(observations.path_json, '')
      AND o.id < observations.id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_observations_dedup
    ON observations(transmission_id, observer_idx, COALESCE(path_json, ''));
