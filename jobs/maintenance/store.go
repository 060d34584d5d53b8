package maintenance

import (
	"context"
	"time"
)

// Chunk methods share one contract. Each call is one write transaction
// that changes at most limit rows older than cutoff (compared in the
// column's own time format) and reports how many it changed and whether
// more may remain (more is true when the chunk was full). With dryRun the
// call only counts every matching row, ignores limit, reports more=false
// and writes nothing.

// PacketStore deletes old transmissions and their observations.
type PacketStore interface {
	// PruneTransmissionsChunk deletes up to limit transmissions whose
	// first_seen is before cutoff, and their observations first (there is
	// no cascade). tx and obs count the deleted rows of each table.
	PruneTransmissionsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (tx, obs int64, more bool, err error)
}

// MetricsStore deletes old observer metrics and dropped packets.
type MetricsStore interface {
	// PruneObserverMetricsChunk deletes observer_metrics rows whose
	// timestamp (RFC 3339) is before cutoff.
	PruneObserverMetricsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error)
	// PruneDroppedPacketsChunk deletes dropped_packets rows whose
	// dropped_at (YYYY-MM-DD HH:MM:SS) is before cutoff.
	PruneDroppedPacketsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error)
}

// ObserverStore marks observers inactive.
type ObserverStore interface {
	// MarkObserversInactiveChunk sets inactive = 1 on active observers
	// whose last_seen is before cutoff. Their metrics are kept.
	MarkObserversInactiveChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error)
}

// NodeStore moves stale nodes.
type NodeStore interface {
	// MoveStaleNodesChunk copies nodes whose last_seen is before cutoff
	// into inactive_nodes (replacing older copies) and deletes them from
	// nodes, in one transaction. Nodes with no last_seen never move.
	MoveStaleNodesChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error)
}

// VacuumStore returns free pages to the file system.
type VacuumStore interface {
	// AutoVacuumMode returns PRAGMA auto_vacuum as the file has it now:
	// 0 NONE, 1 FULL, 2 INCREMENTAL.
	AutoVacuumMode(ctx context.Context) (int, error)
	// FreelistCount returns PRAGMA freelist_count, the unused pages.
	FreelistCount(ctx context.Context) (int64, error)
	// IncrementalVacuumChunk runs PRAGMA incremental_vacuum(pages) to
	// completion in one step of the writer and returns the pages it freed
	// and the pages still free.
	IncrementalVacuumChunk(ctx context.Context, pages int) (freed, free int64, err error)
	// FullVacuum sets auto_vacuum = INCREMENTAL and rebuilds the file with
	// VACUUM, holding the writer for as long as that takes.
	FullVacuum(ctx context.Context) error
}

// CheckpointStore checkpoints the WAL.
type CheckpointStore interface {
	// CheckpointTruncate runs PRAGMA wal_checkpoint(TRUNCATE) and returns
	// its row: busy (a reader or writer kept it from finishing), the
	// frames in the WAL, and the frames checkpointed.
	CheckpointTruncate(ctx context.Context) (busy bool, log, checkpointed int64, err error)
}

// Store is everything the maintenance jobs need from the database.
type Store interface {
	PathJSONStore
	PacketStore
	MetricsStore
	ObserverStore
	NodeStore
	VacuumStore
	CheckpointStore
	LastSeenStore
	FromPubkeyStore
	PublicChannelStore
	NodeKeyStore
	DefaultScopeStore
	NeighborEdgesStore
}

// PathJSONStore is what BackfillPathJSON needs.
type PathJSONStore interface {
	// PathJSONBackfilled reports whether the backfill is recorded as done.
	PathJSONBackfilled(ctx context.Context) (bool, error)
	// BackfillPathJSONChunk fills path_json for up to limit observations
	// with id > afterID that have none, using path, and returns the last
	// id looked at, the rows updated and whether more may remain; when none
	// remain it records the backfill as done. dryRun counts instead.
	BackfillPathJSONChunk(ctx context.Context, afterID int64, limit int, path func(rawHex string) (string, bool), dryRun bool) (lastID, n int64, more bool, err error)
}
