package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Checkpointing defaults.
const (
	// DefaultCheckpointInterval is how often RunCheckpointer copies the WAL
	// back into the database.
	DefaultCheckpointInterval = time.Second
	// safetyCheckpointPages is the write connection's wal_autocheckpoint
	// (pages, 4 KiB each): 64 MiB of WAL before a commit checkpoints itself.
	safetyCheckpointPages = 16384
)

// CheckpointResult is what one wal_checkpoint reports.
type CheckpointResult struct {
	Busy         bool // the checkpoint could not complete (readers or the writer were in the way)
	LogFrames    int  // frames in the WAL
	Checkpointed int  // frames copied into the database
}

// RunCheckpointer runs a PASSIVE wal_checkpoint every interval (0 means
// DefaultCheckpointInterval) from a connection of its own until ctx is done.
// A passive checkpoint never waits for or blocks the writer, so ingest
// commits do not pay for copying the WAL back; the writer restarts the WAL
// from its beginning once everything has been copied, which keeps the -wal
// file small. onResult, if not nil, receives every result (for metrics).
func (db *DB) RunCheckpointer(ctx context.Context, interval time.Duration, onResult func(CheckpointResult, error)) error {
	if interval <= 0 {
		interval = DefaultCheckpointInterval
	}
	// Not mode=ro: a checkpoint writes database pages (never new content).
	c, err := sql.Open("sqlite", fileURI(db.path)+"?_pragma=busy_timeout(1000)")
	if err != nil {
		return fmt.Errorf("checkpointer: %w", err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	t := time.NewTicker(interval)
	defer t.Stop()
	var last CheckpointResult
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		var res CheckpointResult
		var busy int
		err := c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &res.LogFrames, &res.Checkpointed)
		if ctx.Err() != nil {
			return nil
		}
		res.Busy = busy != 0
		if err != nil {
			err = fmt.Errorf("checkpoint: %w", err)
		}
		if onResult != nil && (err != nil || res != last) {
			onResult(res, err)
		}
		last = res
	}
}
