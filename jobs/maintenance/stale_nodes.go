package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// DefaultNodeDays is the inactivity, in days, after which a node moves to
// inactive_nodes when StaleNodes.Days is 0.
const DefaultNodeDays = 7

// StaleNodes moves nodes not seen for Days days from nodes to
// inactive_nodes, in chunks; each chunk copies and deletes its nodes in one
// transaction (spec §3.2 MoveStaleNodes, with explicit column lists, §9 #12).
type StaleNodes struct {
	DB *sqlite.DB
	// Days is the inactivity in days; 0 (or less) means DefaultNodeDays,
	// as in the reference, where this job cannot be turned off by days.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run moves one pass of stale nodes. Result.Rows counts them.
func (j *StaleNodes) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	days := j.Days
	if days <= 0 {
		days = DefaultNodeDays
	}
	before := cutoff(j.Now, days)
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		c, more, err := j.DB.MoveStaleNodesChunk(ctx, before, limit, dryRun)
		n += c
		return more, err
	})
	res := jobs.Result{Rows: n, Detail: fmt.Sprintf("nodes=%d before=%s %s", n, before.Format(time.RFC3339), p)}
	if err != nil {
		return res, fmt.Errorf("stale nodes: %w", err)
	}
	return res, nil
}
