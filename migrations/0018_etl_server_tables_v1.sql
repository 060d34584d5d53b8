-- What CoreScope's server creates itself through a write connection
-- (spec §1.6, §7.3). We create it so the server never has to write.
CREATE TABLE IF NOT EXISTS neighbor_edges (
		node_a TEXT NOT NULL,
		node_b TEXT NOT NULL,
		count INTEGER DEFAULT 1,
		last_seen TEXT,
		PRIMARY KEY (node_a, node_b)
	);
-- Present in the base schema of new files; added here on legacy ones.
-- +etl add-column observations resolved_path TEXT
