package jobs

import (
	"context"
	"errors"
	"time"
)

// Job is one unit of scheduled work. Run does one pass and returns; the
// Scheduler owns time. Run must return promptly when ctx is done, leaving the
// database consistent so that the next run resumes the work. In a dry run it
// reports what it would change and changes nothing.
type Job interface {
	Run(ctx context.Context, dryRun bool) (Result, error)
}

// JobFunc adapts a function to the Job interface.
type JobFunc func(ctx context.Context, dryRun bool) (Result, error)

// Run calls f(ctx, dryRun).
func (f JobFunc) Run(ctx context.Context, dryRun bool) (Result, error) { return f(ctx, dryRun) }

// Result is what one pass of a Job did.
type Result struct {
	// Rows is the number of rows affected, or that would be affected in a dry
	// run. A job that stops early on an error reports the rows it committed.
	Rows int64
	// Detail is a short human-readable summary, for example
	// "transmissions=10 observations=31 chunks=1".
	Detail string
}

// Spec declares a job to the Scheduler.
type Spec struct {
	// Name identifies the job in metrics, logs, history and URLs.
	Name string
	// Schedule is a cron expression with five fields (minute hour dom month
	// dow) or a descriptor (@daily, @every 1h30m), optionally prefixed with
	// CRON_TZ=Zone. Empty means the job runs only on demand or chained
	// after another job.
	Schedule string
	// Enabled false keeps the job listed, but never scheduled, chained or
	// run at start, and Handler refuses to run it (409). RunNow does not
	// look at it: the caller decides.
	Enabled bool
	// Timeout bounds one run (its context is cancelled); 0 means no timeout.
	Timeout time.Duration
	// Jitter delays each scheduled run by a random 0..Jitter; 0 disables it.
	// Runs on demand and chained runs are not delayed.
	Jitter time.Duration
	// OnStart runs the job once when the Scheduler starts, in addition to its
	// schedule. Such jobs run one after the other, in the order they were
	// added.
	OnStart bool
	// Job is the work.
	Job Job
	// Then names jobs to run after this one when it affected rows (Rows > 0)
	// and was not a dry run, for example a vacuum after a prune. Chained runs
	// go through the same guard and do not chain further.
	Then []string
}

// Run results.
const (
	ResultSuccess = "success"
	ResultError   = "error"
	ResultSkipped = "skipped" // a previous run of the job was still going
	ResultTimeout = "timeout" // the job's Timeout expired
)

// Run records one run of a job.
type Run struct {
	Job      string    `json:"job"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Result   string    `json:"result"` // success, error, skipped or timeout
	Rows     int64     `json:"rows"`
	DryRun   bool      `json:"dryRun"`
	Detail   string    `json:"detail,omitempty"`
	Err      string    `json:"error,omitempty"`
}

// Duration is how long the run took.
func (r Run) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// History stores finished runs. Implementations keep a bounded number of runs
// per job and delete older ones.
type History interface {
	// RecordRun stores r.
	RecordRun(ctx context.Context, r Run) error
	// LastRuns returns up to n most recent runs of job, newest first.
	LastRuns(ctx context.Context, job string, n int) ([]Run, error)
}

// Errors returned by RunNow.
var (
	// ErrUnknownJob means no job has that name.
	ErrUnknownJob = errors.New("unknown job")
	// ErrRunning means a run of the job is still going; the request was
	// recorded as skipped.
	ErrRunning = errors.New("job already running")
	// ErrStopping means the Scheduler is shutting down.
	ErrStopping = errors.New("scheduler is stopping")
)
