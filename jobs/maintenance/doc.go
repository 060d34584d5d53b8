// Package maintenance holds CoreScope's maintenance jobs, one file per job:
// prune old packets, prune old metrics and dropped packets, mark stale
// observers inactive, move stale nodes to inactive_nodes, incremental
// vacuum, the startup full vacuum and the WAL checkpoint; and the derived
// data CoreScope's server reads from its writer: the neighbour graph
// (neighborEdges, pruneNeighborEdges).
//
// Each job is a jobs.Job that does one pass: a loop of bounded chunks, each
// one short write transaction of the database, which yields to ingest
// before taking the writer. A chunk holds at most Chunking.Rows rows, and
// each job measures its chunks and sizes the next one to take about half of
// Chunking.Budget, so ingest never waits long for the writer;
// Chunking.OnChunk sees each chunk. A job stopped by its context (shutdown,
// timeout) leaves the database consistent, because every chunk commits or
// rolls back as a whole, and the next run carries on where it stopped. In a
// dry run a job counts what it would change, in one read, and writes
// nothing.
//
// The SQL lives in etl/sqlite; each job calls its *sqlite.DB (field DB).
package maintenance

// Job names, as used in the config, metrics, logs and the job API.
const (
	NameStaleNodes     = "staleNodes"
	NameStaleObservers = "staleObservers"
	NamePruneMetrics   = "pruneMetrics"
	NamePrunePackets   = "prunePackets"
	NameVacuum         = "vacuum"
	NameWALCheckpoint  = "walCheckpoint"
	NameFullVacuum     = "fullVacuum"
	// NameNeighborEdges builds neighbor_edges and refreshes the resolver
	// of observations.resolved_path; NamePruneNeighborEdges deletes old
	// edges.
	NameNeighborEdges      = "neighborEdges"
	NamePruneNeighborEdges = "pruneNeighborEdges"
)

// Names of the startup backfills that bring a file written by an older
// CoreScope up to what today's server reads (head.md §1.2, §2.13, §2.14).
const (
	NameBackfillLastSeen       = "backfillLastSeen"
	NameBackfillFromPubkey     = "backfillFromPubkey"
	NameNormalizePublicChannel = "normalizePublicChannel"
	NameLowercaseNodeKeys      = "lowercaseNodeKeys"
	NameBackfillDefaultScope   = "backfillDefaultScope"
)

// Names of the jobs that carry out what CoreScope's read-only server hands
// to its writer (head.md §2.10–§2.12, §2.16).
const (
	// NameMultibyteSnapshot applies the server's multi-byte capability
	// snapshot file.
	NameMultibyteSnapshot = "multibyteSnapshot"
	// NamePruneRequests executes the server's geo-prune request files.
	NamePruneRequests = "pruneRequests"
	// NameObserverBlacklist soft-deletes the blacklisted observers at start.
	NameObserverBlacklist = "observerBlacklist"
	// NamePruneClientReceptions deletes old client RX coverage rows.
	NamePruneClientReceptions = "pruneClientReceptions"
)
