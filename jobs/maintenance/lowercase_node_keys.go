package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// LowercaseNodeKeys lower-cases node public keys written in upper case by
// old writers (head.md §1.2: the server matches lower-case keys exactly,
// #1483), in nodes and in inactive_nodes. Where both spellings of a key
// exist, the row with the newer last_seen is kept, with the two advert
// counts added and the earlier first_seen (CoreScope's UPDATE fails on the
// clash and leaves both). It runs at every start; a clean file costs one
// scan of the node tables.
type LowercaseNodeKeys struct {
	DB       *sqlite.DB
	Chunking Chunking
}

// Run fixes one pass. Result.Rows counts the keys fixed.
func (j *LowercaseNodeKeys) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	var n, merged int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		c, m, more, err := j.DB.LowercaseNodeKeysChunk(ctx, limit, dryRun)
		n, merged = n+c, merged+m
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("keys=%d merged=%d %s", n, merged, p)}, err
}
