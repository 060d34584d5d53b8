// Package jobs runs the daemon's maintenance jobs under one Scheduler that
// owns time.
//
// A Job does one pass and returns; it has no ticker. The Scheduler decides
// when it runs (a cron schedule, a run-now request over HTTP, or a chain
// after another job) and wraps every run, whatever its trigger, in the same
// guard: panic recovery, overlap protection (a run that is still going makes
// the next one skip, and the skip is counted and recorded), a timeout,
// optional jitter for scheduled runs, run history, Prometheus metrics and one
// log line.
//
// Server is the daemon's HTTP endpoint around the Scheduler: metrics,
// health and readiness probes, the job API (Handler) and whatever the
// daemon mounts beside it, behind optional basic or bearer auth and guards
// against cross-site requests. Client is the CLI's side of that endpoint;
// WriteTable and WriteRun print what it returns.
//
// This package is the only importer of github.com/robfig/cron/v3.
package jobs
