package etl

import (
	"context"
	"errors"
)

// Sink stores records. Apply writes all of recs in ONE transaction, in order,
// and returns only after it is committed (or rolled back on error, in which
// case nothing of recs is stored). Apply must be idempotent: applying the
// same records again (a redelivery) creates no new rows.
type Sink interface {
	Apply(ctx context.Context, recs []Record) (ApplyResult, error)
}

// ApplyResult counts what one Apply wrote.
type ApplyResult struct {
	TxInserted      int // new transmissions
	TxDupes         int // packets whose transmission already existed
	ObsInserted     int // new observations
	ObsDupes        int // observations that already existed (merged)
	NodeUpserts     int
	ObserverUpserts int
	MetricsRows     int
	Dropped         int // dropped_packets rows
}

// Add accumulates o into r.
func (r *ApplyResult) Add(o ApplyResult) {
	r.TxInserted += o.TxInserted
	r.TxDupes += o.TxDupes
	r.ObsInserted += o.ObsInserted
	r.ObsDupes += o.ObsDupes
	r.NodeUpserts += o.NodeUpserts
	r.ObserverUpserts += o.ObserverUpserts
	r.MetricsRows += o.MetricsRows
	r.Dropped += o.Dropped
}

// ErrUnavailable marks an Apply error that concerns the store as a whole
// (disk full, read-only file, I/O error, locked by someone else) rather than
// the records: the pipeline then retries the whole batch, with backoff, until
// it succeeds, instead of isolating records and skipping them. Sinks wrap
// such errors with it (errors.Is(err, ErrUnavailable)).
var ErrUnavailable = errors.New("store unavailable")
