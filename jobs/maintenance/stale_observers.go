package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// Observer retention.
const (
	// DefaultObserverDays is the inactivity, in days, after which an
	// observer is marked inactive when StaleObservers.Days is 0.
	DefaultObserverDays = 14
	// KeepObserversForever (or any negative Days) never marks observers
	// inactive.
	KeepObserversForever = -1
)

// StaleObservers marks observers not seen for Days days inactive (a soft
// delete; spec §3.2 RemoveStaleObservers). Unlike the reference it keeps
// their observer_metrics, so their history survives a comeback (§9 #27).
type StaleObservers struct {
	DB *sqlite.DB
	// Days is the inactivity in days; 0 means DefaultObserverDays and a
	// negative value (KeepObserversForever) disables the job.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run marks one pass of stale observers inactive. Result.Rows counts them.
func (j *StaleObservers) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	days := j.Days
	switch {
	case days < 0:
		return jobs.Result{Detail: "disabled: days=-1 keeps observers forever"}, nil
	case days == 0:
		days = DefaultObserverDays
	}
	before := cutoff(j.Now, days)
	var n int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		c, more, err := j.DB.MarkObserversInactiveChunk(ctx, before, limit, dryRun)
		n += c
		return more, err
	})
	res := jobs.Result{Rows: n, Detail: fmt.Sprintf("observers=%d before=%s %s", n, before.Format(time.RFC3339), p)}
	if err != nil {
		return res, fmt.Errorf("stale observers: %w", err)
	}
	return res, nil
}
