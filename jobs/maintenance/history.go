package maintenance

import (
	"context"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
)

// History is the scheduler's run history (jobs.History) in the job_runs
// table, keeping Keep runs per job.
type History struct {
	DB   *sqlite.DB
	Keep int
}

// RecordRun stores r and trims the job's older runs.
func (h History) RecordRun(ctx context.Context, r jobs.Run) error {
	return h.DB.RecordJobRun(ctx, sqlite.JobRun{
		Job: r.Job, Started: r.Started, Finished: r.Finished, Result: r.Result,
		Rows: r.Rows, DryRun: r.DryRun, Err: r.Err,
	}, h.Keep)
}

// LastRuns returns the newest n runs of job, newest first.
func (h History) LastRuns(ctx context.Context, job string, n int) ([]jobs.Run, error) {
	rows, err := h.DB.LastJobRuns(ctx, job, n)
	if err != nil {
		return nil, err
	}
	out := make([]jobs.Run, len(rows))
	for i, r := range rows {
		out[i] = jobs.Run{Job: r.Job, Started: r.Started, Finished: r.Finished, Result: r.Result,
			Rows: r.Rows, DryRun: r.DryRun, Err: r.Err}
	}
	return out, nil
}
