package sqlite

import (
	"context"
	"fmt"
	"time"
)

// Mobile client RX coverage (spec head.md §2.16): CoreScope's opt-in
// tables client_receptions and client_observers. Their times (rx_at,
// last_seen) are RFC 3339 UTC text.

// PruneClientReceptionsChunk deletes up to limit client_receptions rows
// whose rx_at is before cutoff, oldest first (idx_client_recept_rxat), in
// one transaction. With dryRun it counts every matching row.
func (db *DB) PruneClientReceptionsChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM client_receptions WHERE rx_at < ?`,
		`DELETE FROM client_receptions WHERE id IN
    (SELECT id FROM client_receptions WHERE rx_at < ? ORDER BY rx_at LIMIT ?)`,
		rfc3339Before(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("prune client_receptions: %w", err)
	}
	return n, more, nil
}

// PruneClientObserversChunk deletes up to limit client_observers rows whose
// last_seen is before cutoff, in one transaction. With dryRun it counts
// every matching row.
func (db *DB) PruneClientObserversChunk(ctx context.Context, cutoff time.Time, limit int, dryRun bool) (n int64, more bool, err error) {
	n, more, err = db.deleteChunk(ctx, dryRun, limit,
		`SELECT count(*) FROM client_observers WHERE last_seen < ?`,
		`DELETE FROM client_observers WHERE pubkey IN
    (SELECT pubkey FROM client_observers WHERE last_seen < ? LIMIT ?)`,
		rfc3339Before(cutoff))
	if err != nil {
		return 0, false, fmt.Errorf("prune client_observers: %w", err)
	}
	return n, more, nil
}
