package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
	"github.com/prometheus/client_golang/prometheus"
)

// buildScheduler returns a Scheduler with every maintenance job of
// cfg.Jobs registered; the daemon adds the ingest stream itself. Run
// history goes to the job_runs table. topo, when given, is the resolver
// the daemon's transform reads and the neighborEdges job refreshes.
func buildScheduler(cfg *config.Config, db *sqlite.DB, reg prometheus.Registerer, log *slog.Logger, topo ...*topology.Live) (*jobs.Scheduler, error) {
	s := jobs.NewScheduler(jobs.Options{
		Logger:          log,
		Registerer:      reg,
		History:         maintenance.History{DB: db, Keep: cfg.Jobs.HistoryPerJob},
		HistoryPerJob:   cfg.Jobs.HistoryPerJob,
		ShutdownTimeout: cfg.Ingest.ShutdownTimeout, // the wait for running jobs
	})
	for _, spec := range jobSpecs(cfg, db, log, topo...) {
		if err := s.Add(spec); err != nil {
			return nil, fmt.Errorf("jobs.%s: %w", spec.Name, err)
		}
	}
	return s, nil
}

// jobSpecs returns the specs of the maintenance jobs; with a nil db they
// serve for listings only. reprocess decodes with a transform built from
// cfg, exactly as ingest stores packets now.
func jobSpecs(cfg *config.Config, db *sqlite.DB, log *slog.Logger, topo ...*topology.Live) []jobs.Spec {
	d := maintenance.Deps{DB: db, DBPath: cfg.DBPath, ObserverBlacklist: cfg.ObserverBlacklist, Log: log}
	if len(topo) > 0 {
		d.Topology = topo[0]
	}
	if db != nil {
		// Quiet: the daemon's own transform already logged the keys.
		if tr, err := newTransformer(cfg, nil, slog.New(slog.DiscardHandler), nil); err == nil {
			d.Redecode = tr.Redecode
		}
	}
	return cfg.Jobs.Specs(d)
}

// startupMaintenance runs, before any subscription, the one-time full
// VACUUM that switches an old file to incremental auto-vacuum when
// jobs.vacuum.onStartup is set (spec §3.2 CheckAutoVacuum). It runs through
// sched's guard, before sched.Run, which times it, records it in the job
// history and logs it. A failed VACUUM leaves the file as it is and startup
// continues, as in CoreScope; only a cancelled ctx is returned.
func startupMaintenance(ctx context.Context, cfg *config.Config, db *sqlite.DB, sched *jobs.Scheduler, log *slog.Logger) error {
	mode, err := db.AutoVacuumMode(ctx)
	if err != nil {
		return fmt.Errorf("startup maintenance: %w", err)
	}
	if mode == 2 {
		log.Info("auto_vacuum is INCREMENTAL")
		return nil
	}
	if !cfg.Jobs.Vacuum.OnStartup {
		log.Warn("auto_vacuum is not INCREMENTAL: the vacuum job cannot return free pages; set jobs.vacuum.onStartup (db.vacuumOnStartup) to convert the file with one full VACUUM at startup",
			"auto_vacuum", mode)
		return nil
	}
	// Declared only when it is to run: once the file is converted, a run
	// changes nothing.
	if err := sched.Add(maintenance.FullVacuumSpec(db)); err != nil {
		return fmt.Errorf("startup maintenance: %w", err)
	}
	log.Info("full vacuum starting: converting the file to auto_vacuum=INCREMENTAL; ingest starts when it is done",
		"job", maintenance.NameFullVacuum, "path", db.Path())
	if _, err := sched.RunNow(ctx, maintenance.NameFullVacuum, false); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("startup maintenance: %w", ctx.Err())
		}
		// The guard logged the run with its error.
		log.Warn("continuing with auto_vacuum unchanged", "job", maintenance.NameFullVacuum)
	}
	return nil
}

// cmdJobs implements the jobs subcommand:
//
//	jobs [-config PATH]                       list the daemon's jobs
//	jobs run NAME [--dry-run] [-config PATH]  run a job now and print the result
//
// Both talk to the running daemon over its HTTP endpoint (http.listen, with
// its basic or bearer auth). When no daemon answers, "run" opens the
// database itself if the writer lock is free and runs the job through the
// same scheduler code; if the lock is held, it fails naming the holder's
// pid. "jobs" with no daemon lists the configured jobs.
func cmdJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		dryRun bool
	)
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	fs.BoolVar(&dryRun, "dry-run", false, "with run: report what the job would change, change nothing")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: corescope-ingestor jobs [-config PATH]\n       corescope-ingestor jobs run NAME [--dry-run] [-config PATH]\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	var name string
	switch {
	case len(pos) == 0 || (len(pos) == 1 && pos[0] == "list"):
		if dryRun {
			return usageError{errors.New("jobs: --dry-run applies to jobs run")}
		}
	case pos[0] == "run" && len(pos) == 2:
		name = pos[1]
	case pos[0] == "run":
		return usageError{errors.New("jobs run: want exactly one job name")}
	default:
		return usageError{fmt.Errorf("jobs: unknown command %q (want list or run)", strings.Join(pos, " "))}
	}

	cfg, err := cf.load(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	var names []string
	for _, sp := range jobSpecs(cfg, nil, nil) {
		names = append(names, sp.Name)
	}
	if name != "" && !slices.Contains(names, name) {
		return usageError{fmt.Errorf("jobs run: unknown job %q (jobs: %s)", name, strings.Join(names, ", "))}
	}
	client := jobs.NewClient(cfg.HTTP)
	if name == "" {
		return listJobs(ctx, client, cfg, stdout, stderr)
	}
	return runJob(ctx, client, cfg, name, dryRun, stdout, stderr)
}

// parseInterleaved parses flags that may come before, between or after
// positional arguments ("run NAME --dry-run") and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func listJobs(ctx context.Context, c *jobs.Client, cfg *config.Config, stdout, stderr io.Writer) error {
	var list []jobs.JobStatus
	err := c.Do(ctx, http.MethodGet, "/jobs", &list)
	if errors.Is(err, jobs.ErrNoDaemon) {
		fmt.Fprintf(stderr, "%v; showing the configured jobs\n", err)
		s := jobs.NewScheduler(jobs.Options{})
		for _, spec := range jobSpecs(cfg, nil, nil) {
			if err := s.Add(spec); err != nil {
				return fmt.Errorf("jobs.%s: %w", spec.Name, err)
			}
		}
		list = s.Jobs()
	} else if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return jobs.WriteTable(stdout, list)
}

func runJob(ctx context.Context, c *jobs.Client, cfg *config.Config, name string, dryRun bool, stdout, stderr io.Writer) error {
	var run jobs.Run
	p := "/jobs/" + url.PathEscape(name) + "/run"
	if dryRun {
		p += "?dryRun=1"
	}
	err := c.Do(ctx, http.MethodPost, p, &run)
	switch {
	case errors.Is(err, jobs.ErrNoDaemon):
		run, err = runLocally(ctx, cfg, name, dryRun, c, errors.Unwrap(err), stderr)
		if err != nil && run.Result == "" {
			return err
		}
	case errors.Is(err, jobs.ErrConflict):
		return fmt.Errorf("jobs run %s: already running in the daemon", name)
	case err != nil:
		return fmt.Errorf("jobs run %s: %w", name, err)
	}
	if err := jobs.WriteRun(stdout, run); err != nil {
		return err
	}
	if run.Result != jobs.ResultSuccess {
		return fmt.Errorf("jobs run %s: %s: %s", name, run.Result, run.Err)
	}
	return nil
}

// runLocally runs the job in this process when no daemon answered: it
// takes the writer lock (sqlite.Open), migrates, and runs the job through a
// scheduler built like the daemon's, so that the run is guarded, recorded
// in job_runs and chained the same way.
func runLocally(ctx context.Context, cfg *config.Config, name string, dryRun bool, c *jobs.Client, dialErr error, stderr io.Writer) (jobs.Run, error) {
	for _, sp := range jobSpecs(cfg, nil, nil) {
		if sp.Name == name && !sp.Enabled { // as the daemon's POST refuses it
			return jobs.Run{}, fmt.Errorf("jobs run %s: the job is disabled (jobs.%s.enabled: false); enable it in the config to run it", name, name)
		}
	}
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return jobs.Run{}, fmt.Errorf("jobs run %s: no daemon answers (%v), and the database cannot be opened: %w", name, dialErr, err)
	}
	db, err := sqlite.Open(ctx, cfg.DBPath, sqlite.Options{})
	if err != nil {
		var le *sqlite.LockedError
		if errors.As(err, &le) {
			where := "its HTTP endpoint is disabled (http.listen is empty)"
			if c.URL() != "" {
				where = fmt.Sprintf("its HTTP endpoint %s does not answer (%v)", c.URL(), dialErr)
			}
			return jobs.Run{}, fmt.Errorf("jobs run %s: the daemon (pid %d) holds %s but %s", name, le.PID, cfg.DBPath, where)
		}
		return jobs.Run{}, fmt.Errorf("jobs run %s: %w", name, err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return jobs.Run{}, fmt.Errorf("jobs run %s: %w", name, err)
	}
	fmt.Fprintf(stderr, "no daemon answers (%v); running %s in this process on %s\n", dialErr, name, cfg.DBPath)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := buildScheduler(cfg, db, nil, log)
	if err != nil {
		return jobs.Run{}, err
	}
	return s.RunNow(ctx, name, dryRun)
}
