package maintenance

import (
	"context"
	"fmt"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// WALCheckpoint copies the WAL into the database file and truncates it
// (PRAGMA wal_checkpoint(TRUNCATE)), so that the -wal file does not grow
// without bound between the automatic checkpoints. A checkpoint that a
// reader kept from finishing (busy) is reported, not failed: the next run
// retries.
type WALCheckpoint struct {
	DB *sqlite.DB
}

// Run checkpoints once. Result.Rows counts the frames checkpointed; a dry
// run does nothing.
func (j *WALCheckpoint) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if dryRun {
		return jobs.Result{Detail: "dry run: no checkpoint"}, nil
	}
	busy, log, done, err := j.DB.CheckpointTruncate(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	return jobs.Result{Rows: done, Detail: fmt.Sprintf("busy=%t log=%d checkpointed=%d", busy, log, done)}, nil
}
