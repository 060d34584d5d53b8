package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/jobs"
)

// LastSeenStore is what BackfillLastSeen needs.
type LastSeenStore interface {
	// LastSeenBackfilled reports whether the backfill is recorded as done.
	LastSeenBackfilled(ctx context.Context) (bool, error)
	// BackfillLastSeenChunk sets last_seen from the newest observation on
	// up to limit transmissions with id > afterID whose last_seen is 0,
	// and returns the last id looked at, the rows updated and whether more
	// may remain; when none remain it records the backfill as done. dryRun
	// counts instead.
	BackfillLastSeenChunk(ctx context.Context, afterID int64, limit int, dryRun bool) (lastID, n int64, more bool, err error)
}

// BackfillLastSeen gives transmissions stored before transmissions.last_seen
// existed their newest observation's time (CoreScope's
// tx_last_seen_backfill_v1, head.md §1.2 (4), §2.7): the server hot-loads
// by last_seen, so a row left at 0 is invisible to it. It walks the rows
// still at 0 by id in chunks that yield to ingest; a transmission without
// observations stays 0 and is passed over. Once a pass reaches the end it is
// recorded as done in _async_migrations and later runs return at once.
type BackfillLastSeen struct {
	Store    LastSeenStore
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the rows updated.
func (j *BackfillLastSeen) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	done, err := j.Store.LastSeenBackfilled(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if done {
		return jobs.Result{Detail: "already done"}, nil
	}
	var cursor, n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.Store.BackfillLastSeenChunk(ctx, cursor, limit, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	res := jobs.Result{Rows: n, Detail: fmt.Sprintf("transmissions=%d %s", n, p)}
	if err != nil {
		return res, err
	}
	return res, nil
}
