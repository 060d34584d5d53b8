package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// PruneClientReceptions deletes client RX coverage rows older than Days
// days: client_receptions by rx_at, then client_observers by last_seen
// (spec head.md §2.16, retention.clientRxDays). It runs whether or not the
// feature is enabled, so rows written while it was on still expire.
// Unlike CoreScope, which deletes both in one transaction, it works in
// chunks that yield to ingest.
type PruneClientReceptions struct {
	DB *sqlite.DB
	// Days is the retention in days; 0 or less disables the job (rows are
	// kept forever), as retention.clientRxDays 0 does.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run deletes one pass of expired rows. Result.Rows counts both tables.
func (j *PruneClientReceptions) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if j.Days <= 0 {
		return jobs.Result{Detail: "disabled: days=0 keeps client RX coverage rows forever"}, nil
	}
	before := cutoff(j.Now, j.Days)
	var receptions, observers int64
	pr, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		n, more, err := j.DB.PruneClientReceptionsChunk(ctx, before, limit, dryRun)
		receptions += n
		return more, err
	})
	var po pass
	if err == nil {
		po, err = j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
			n, more, err := j.DB.PruneClientObserversChunk(ctx, before, limit, dryRun)
			observers += n
			return more, err
		})
	}
	p := pass{chunks: pr.chunks + po.chunks, longest: max(pr.longest, po.longest)}
	res := jobs.Result{
		Rows: receptions + observers,
		Detail: fmt.Sprintf("client_receptions=%d client_observers=%d before=%s %s",
			receptions, observers, before.Format(time.RFC3339), p),
	}
	if err != nil {
		return res, fmt.Errorf("prune client receptions: %w", err)
	}
	return res, nil
}
