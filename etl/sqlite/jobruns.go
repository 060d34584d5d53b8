package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DefaultJobRunsKept is the number of job_runs rows RecordJobRun keeps per
// job when keep is 0.
const DefaultJobRunsKept = 50

// jobRunTime is the text format of job_runs.started_at and finished_at:
// RFC 3339 UTC with milliseconds, since runs are often shorter than a second.
const jobRunTime = "2006-01-02T15:04:05.000Z07:00"

// JobRun is one row of job_runs: one run of a maintenance job.
type JobRun struct {
	ID       int64
	Job      string
	Started  time.Time
	Finished time.Time
	Result   string // success, error, skipped or timeout
	Rows     int64
	DryRun   bool
	Err      string // empty when the run did not fail
}

// RecordJobRun inserts r into job_runs and deletes the job's older rows
// beyond the newest keep (0 means DefaultJobRunsKept), in one write
// transaction.
func (db *DB) RecordJobRun(ctx context.Context, r JobRun, keep int) error {
	if keep <= 0 {
		keep = DefaultJobRunsKept
	}
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var errText any
		if r.Err != "" {
			errText = r.Err
		}
		var finished any
		if !r.Finished.IsZero() {
			finished = r.Finished.UTC().Format(jobRunTime)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_runs
    (job, started_at, finished_at, result, rows_affected, dry_run, error)
    VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.Job, r.Started.UTC().Format(jobRunTime), finished, r.Result, r.Rows, r.DryRun, errText); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM job_runs WHERE job = ?1 AND id <=
    (SELECT id FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`, r.Job, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("record job run: %w", err)
	}
	return nil
}

// LastJobRuns returns up to n most recent runs of job, newest first.
func (db *DB) LastJobRuns(ctx context.Context, job string, n int) ([]JobRun, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, job, started_at, finished_at, result, rows_affected, dry_run, error
    FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?`, job, n)
	if err != nil {
		return nil, fmt.Errorf("job runs: %w", err)
	}
	defer rows.Close()
	var out []JobRun
	for rows.Next() {
		var (
			r                 JobRun
			started, finished sql.NullString
			errText           sql.NullString
		)
		if err := rows.Scan(&r.ID, &r.Job, &started, &finished, &r.Result, &r.Rows, &r.DryRun, &errText); err != nil {
			return nil, fmt.Errorf("job runs: %w", err)
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, started.String)
		r.Finished, _ = time.Parse(time.RFC3339Nano, finished.String)
		r.Err = errText.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("job runs: %w", err)
	}
	return out, nil
}
