package sqlite

import (
	"context"
	"sync"
	"time"
)

// heartbeatKey is the etl_state row the write probe upserts: a real page
// write, so that a read-only, full or failing disk fails it (an empty write
// transaction would not).
const heartbeatKey = "ingestor.heartbeat"

// probeTimeout bounds one write probe.
const probeTimeout = 10 * time.Second

// probeResult is the outcome of the last write probe.
type probeResult struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// RunProbe checks that the database is writable until ctx is done: at
// start, then every interval, it upserts a heartbeat row unless a batch
// committed within the last interval (lastCommit), which proves it as
// well. Probed reports the outcome.
func (db *DB) RunProbe(ctx context.Context, interval time.Duration, lastCommit func() time.Time) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var err error
		if time.Since(lastCommit()) > interval {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			err = db.SetState(pctx, heartbeatKey, time.Now().UTC().Format(time.RFC3339Nano))
			cancel()
			if ctx.Err() != nil {
				return
			}
		}
		db.probe.mu.Lock()
		db.probe.at, db.probe.err = time.Now(), err
		db.probe.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Probed returns when the last write probe of RunProbe finished and its
// error; a zero time before the first.
func (db *DB) Probed() (time.Time, error) {
	db.probe.mu.Lock()
	defer db.probe.mu.Unlock()
	return db.probe.at, db.probe.err
}
