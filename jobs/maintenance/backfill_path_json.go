package maintenance

import (
	"context"
	"errors"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// NameBackfillPathJSON is the name of the one-time path_json backfill job.
const NameBackfillPathJSON = "backfillPathJSON"

// BackfillPathJSON gives legacy observations without a path_json one,
// derived from their raw hex (CoreScope's asynchronous
// backfill_path_json_from_raw_hex_v1, ingestor.md §1.5), in chunks that
// yield to ingest. Once every row is done it is recorded under CoreScope's
// name and later runs return at once.
type BackfillPathJSON struct {
	DB *sqlite.DB
	// Path derives path_json from a raw packet (the decoder's path rule).
	Path     func(rawHex string) (string, bool)
	Chunking Chunking
}

// Run backfills one pass. Result.Rows counts the rows updated.
func (j *BackfillPathJSON) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if j.Path == nil {
		return jobs.Result{}, errors.New("path_json backfill: no path function")
	}
	done, err := j.DB.PathJSONBackfilled(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	if done {
		return jobs.Result{Detail: "already done"}, nil
	}
	var cursor, n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		last, c, more, err := j.DB.BackfillPathJSONChunk(ctx, cursor, limit, j.Path, dryRun)
		cursor, n = last, n+c
		return more, err
	})
	return jobs.Result{Rows: n, Detail: fmt.Sprintf("observations=%d %s", n, p)}, err
}
