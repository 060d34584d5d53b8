package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// BackfillLastSeen gives transmissions stored before transmissions.last_seen
// existed their newest observation's time (CoreScope's
// tx_last_seen_backfill_v1, head.md §1.2 (4), §2.7): the server hot-loads
// by last_seen, so a row left at 0 is invisible to it. It walks the rows
// still at 0 by id in chunks that yield to ingest; a transmission without
// observations stays 0 and is passed over. Once a pass reaches the end it is
// recorded as done in _async_migrations and later runs return at once.
type BackfillLastSeen struct {
	DB       *sqlite.DB
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the rows updated.
func (j *BackfillLastSeen) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	done, err := j.DB.LastSeenBackfilled(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if done {
		return jobs.Result{Detail: "already done"}, nil
	}
	var cursor, n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.DB.BackfillLastSeenChunk(ctx, cursor, limit, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("transmissions=%d %s", n, p)}, err
}
