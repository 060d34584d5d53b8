package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

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
	DB       *sqlite.DB
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the nodes updated.
func (j *BackfillDefaultScope) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	done, err := j.DB.DefaultScopeBackfilled(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if done {
		return jobs.Result{Detail: "already done"}, nil
	}
	var cursor string
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.DB.BackfillDefaultScopeChunk(ctx, cursor, limit, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("nodes=%d %s", n, p)}, err
}
