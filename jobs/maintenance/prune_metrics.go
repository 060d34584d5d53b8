package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// DefaultMetricsDays is the retention of observer metrics and dropped
// packets, in days, when PruneMetrics.Days is 0.
const DefaultMetricsDays = 30

// PruneMetrics deletes observer_metrics rows and dropped_packets rows older
// than Days days, in chunks (spec §3.2 PruneOldMetrics and
// PruneDroppedPackets). Each table is compared in its own time format, so
// dropped packets are no longer deleted up to a day early (§9 #13).
type PruneMetrics struct {
	DB *sqlite.DB
	// Days is the retention in days; 0 means DefaultMetricsDays.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run deletes one pass of expired metrics, then dropped packets.
// Result.Rows counts both.
func (j *PruneMetrics) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	days := j.Days
	if days <= 0 {
		days = DefaultMetricsDays
	}
	before := cutoff(j.Now, days)
	var metrics, dropped int64
	pm, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		n, more, err := j.DB.PruneObserverMetricsChunk(ctx, before, limit, dryRun)
		metrics += n
		return more, err
	})
	var pd pass
	if err == nil {
		pd, err = j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
			n, more, err := j.DB.PruneDroppedPacketsChunk(ctx, before, limit, dryRun)
			dropped += n
			return more, err
		})
	}
	p := pass{chunks: pm.chunks + pd.chunks, longest: max(pm.longest, pd.longest)}
	res := jobs.Result{
		Rows: metrics + dropped,
		Detail: fmt.Sprintf("observer_metrics=%d dropped_packets=%d before=%s %s",
			metrics, dropped, before.Format(time.RFC3339), p),
	}
	if err != nil {
		return res, fmt.Errorf("prune metrics: %w", err)
	}
	return res, nil
}
