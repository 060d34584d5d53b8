-- Transport-code region scope of a transmission (spec/head.md §2.5): NULL =
-- not transport-scoped, '' = scoped but no configured region matched, else
-- the region name with its '#'. Set on insert only; existing rows stay NULL.
-- +etl add-column transmissions scope_name TEXT DEFAULT NULL
CREATE INDEX IF NOT EXISTS idx_tx_scope_name ON transmissions(scope_name) WHERE scope_name IS NOT NULL;
