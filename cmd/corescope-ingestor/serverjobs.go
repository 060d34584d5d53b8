package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// The jobs that carry out what CoreScope's read-only server hands to its
// writer through files in the database's directory (head.md §2.10–§2.12),
// and the retention of its client RX coverage tables (§2.16).
// Both processes must therefore see that directory.

// jobSpecs returns every job of the daemon: the maintenance jobs, the
// server's queues and the neighbour graph. db may be nil for listings. topo
// is the daemon's resolver, which the neighborEdges job refreshes; without
// one the job makes its own.
func jobSpecs(cfg *config.Config, db *sqlite.DB, log *slog.Logger, topo ...*topology.Live) []jobs.Spec {
	specs := append(maintenanceSpecs(&cfg.Jobs, db), serverJobSpecs(cfg, db, log)...)
	specs = append(specs, topologyJobSpecs(&cfg.Jobs, db, firstTopology(topo))...)
	return append(specs, lifecycleJobSpecs(cfg, db, log)...)
}

// serverJobSpecs translates the config into the specs of the server-queue
// jobs. The file locations are fixed relative to dbPath, as the server
// computes them. multibyteSnapshot also runs at start (CoreScope waits two
// minutes): the file on disk is the server's latest, and applying it again
// changes nothing.
func serverJobSpecs(cfg *config.Config, db *sqlite.DB, log *slog.Logger) []jobs.Spec {
	dir := filepath.Dir(cfg.DBPath)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	spec := func(name string, j config.Job, job jobs.Job, onStart bool) jobs.Spec {
		return jobs.Spec{
			Name: name, Schedule: j.Schedule, Enabled: j.Enabled, Timeout: j.Timeout, Jitter: j.Jitter,
			OnStart: onStart, Job: job,
		}
	}
	c := &cfg.Jobs
	var vacuum []string
	if c.Vacuum.Enabled {
		vacuum = []string{maintenance.NameVacuum}
	}
	return []jobs.Spec{
		spec(maintenance.NameMultibyteSnapshot, c.MultibyteSnapshot, &maintenance.MultibyteSnapshot{
			DB:       db,
			Path:     filepath.Join(dir, maintenance.MultibyteSnapshotFile),
			Chunking: c.MultibyteSnapshot.Chunking(),
		}, true),
		spec(maintenance.NamePruneRequests, c.PruneRequests, &maintenance.PruneRequests{
			DB:  db,
			Dir: filepath.Join(dir, maintenance.PruneRequestsDir),
			Log: log.With("job", maintenance.NamePruneRequests),
		}, true),
		// Client RX coverage retention: runs whether or not the feature is
		// on, so that rows written while it was on expire.
		{
			Name: maintenance.NamePruneClientReceptions, Schedule: c.PruneClientReceptions.Schedule,
			Enabled: c.PruneClientReceptions.Enabled, Timeout: c.PruneClientReceptions.Timeout,
			Jitter: c.PruneClientReceptions.Jitter, OnStart: true, Then: vacuum,
			Job: &maintenance.PruneClientReceptions{
				DB: db, Days: c.PruneClientReceptions.Days,
				Chunking: c.PruneClientReceptions.Chunking(),
			},
		},
		// CoreScope's startup soft delete of blacklisted observers: not
		// configurable beyond observerBlacklist itself.
		{
			Name:    maintenance.NameObserverBlacklist,
			Enabled: true,
			OnStart: true,
			Timeout: config.DefaultJobTimeout,
			Job:     &maintenance.ObserverBlacklist{DB: db, IDs: cfg.ObserverBlacklist},
		},
	}
}

// componentJob runs job with its writes labelled name in the stats file's
// writer_perf.
func componentJob(name string, job jobs.Job) jobs.Job {
	return jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
		return job.Run(sqlite.WithComponent(ctx, name), dryRun)
	})
}
