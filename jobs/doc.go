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
// This package is the only importer of github.com/robfig/cron/v3.
package jobs
