-- 1 = the node's last located advert was outside geo_filter.
-- +etl add-column nodes foreign_advert INTEGER DEFAULT 0
-- +etl add-column inactive_nodes foreign_advert INTEGER DEFAULT 0
CREATE INDEX IF NOT EXISTS idx_nodes_foreign_advert ON nodes(foreign_advert) WHERE foreign_advert = 1;
