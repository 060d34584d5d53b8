package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/jobs"
)

// DefaultScopeStore is what BackfillDefaultScope needs.
type DefaultScopeStore interface {
	// DefaultScopeBackfilled reports whether the backfill is recorded as
	// done.
	DefaultScopeBackfilled(ctx context.Context) (bool, error)
	// BackfillDefaultScopeChunk sets default_scope from the newest
	// matched transport ADVERT on up to limit nodes with a key after
	// afterKey, and returns the last key looked at, the nodes updated and
	// whether more may remain; when none remain it records the backfill
	// as done. dryRun counts instead.
	BackfillDefaultScopeChunk(ctx context.Context, afterKey string, limit int, dryRun bool) (lastKey string, n int64, more bool, err error)
}

// BackfillDefaultScope gives each node the region scope of its newest
// matched transport ADVERT (CoreScope's backfill_default_scope_v1,
// head.md §2.6), for adverts stored before the ingest path set
// nodes.default_scope itself. CoreScope runs it only when regions
// (hashRegions) are configured; it reads only the stored scope_name of
// adverts, which is non-empty only for adverts stored with regions, so it
// runs whatever the config, and on a file that never had regions it
// changes nothing. Once every node has been visited it is recorded and
// later runs return at once.
type BackfillDefaultScope struct {
	Store    DefaultScopeStore
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the nodes updated.
func (j *BackfillDefaultScope) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	done, err := j.Store.DefaultScopeBackfilled(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if done {
		return jobs.Result{Detail: "already done"}, nil
	}
	var cursor string
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.Store.BackfillDefaultScopeChunk(ctx, cursor, limit, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	res := jobs.Result{Rows: n, Detail: fmt.Sprintf("nodes=%d %s", n, p)}
	if err != nil {
		return res, err
	}
	return res, nil
}
