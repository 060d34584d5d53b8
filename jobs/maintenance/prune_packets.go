package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// PrunePackets deletes transmissions first seen more than Days days ago,
// with their observations, in chunks (spec §3.2 PruneOldPackets, without
// the single long transaction of §9 #7). first_seen holds RFC 3339 with and
// without milliseconds; the DB compares both correctly.
type PrunePackets struct {
	DB *sqlite.DB
	// Days is the retention in days; 0 (or less) disables the job.
	Days     int
	Chunking Chunking
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Run deletes one pass of expired packets. Result.Rows counts the
// transmissions and observations deleted.
func (j *PrunePackets) Run(ctx context.Context, dryRun bool) (jobs.Result, error) {
	if j.Days <= 0 {
		return jobs.Result{Detail: "disabled: days=0 keeps packets forever"}, nil
	}
	before := cutoff(j.Now, j.Days)
	var tx, obs int64
	p, err := j.Chunking.loop(ctx, dryRun, func(ctx context.Context, limit int) (bool, error) {
		t, o, more, err := j.DB.PruneTransmissionsChunk(ctx, before, limit, dryRun)
		tx, obs = tx+t, obs+o
		return more, err
	})
	res := jobs.Result{
		Rows:   tx + obs,
		Detail: fmt.Sprintf("transmissions=%d observations=%d before=%s %s", tx, obs, before.Format(time.RFC3339), p),
	}
	if err != nil {
		return res, fmt.Errorf("prune packets: %w", err)
	}
	return res, nil
}
