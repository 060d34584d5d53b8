package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

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
		History:         jobHistory{db: db, keep: cfg.Jobs.HistoryPerJob},
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

// jobHistory stores job runs in the job_runs table, keeping keep per job.
type jobHistory struct {
	db   *sqlite.DB
	keep int
}

func (h jobHistory) RecordRun(ctx context.Context, r jobs.Run) error {
	return h.db.RecordJobRun(ctx, sqlite.JobRun{
		Job: r.Job, Started: r.Started, Finished: r.Finished, Result: r.Result,
		Rows: r.Rows, DryRun: r.DryRun, Err: r.Err,
	}, h.keep)
}

func (h jobHistory) LastRuns(ctx context.Context, job string, n int) ([]jobs.Run, error) {
	rows, err := h.db.LastJobRuns(ctx, job, n)
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
	client := newJobsClient(cfg.HTTP)
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

func listJobs(ctx context.Context, c *jobsClient, cfg *config.Config, stdout, stderr io.Writer) error {
	var list []jobs.JobStatus
	err := c.do(ctx, http.MethodGet, "/jobs", &list)
	if errors.Is(err, errNoDaemon) {
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
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tENABLED\tRUNNING\tNEXT RUN\tLAST RUN\tRESULT\tROWS\tDURATION")
	for _, j := range list {
		sched := j.Schedule
		if sched == "" {
			sched = "-"
			for _, o := range list {
				if slices.Contains(o.Then, j.Name) {
					sched = "chained" // runs after a job that changed rows
					break
				}
			}
		}
		next, last, result, rows, dur := "-", "-", "-", "-", "-"
		if !j.Next.IsZero() {
			next = j.Next.Format(time.RFC3339)
		}
		if r := j.LastRun; r != nil {
			last, result, rows, dur = r.Started.Format(time.RFC3339), r.Result, fmt.Sprint(r.Rows), r.Duration().Round(time.Millisecond).String()
			if r.DryRun {
				result += " (dry run)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, sched, yesNo(j.Enabled), yesNo(j.Running), next, last, result, rows, dur)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func runJob(ctx context.Context, c *jobsClient, cfg *config.Config, name string, dryRun bool, stdout, stderr io.Writer) error {
	var run jobs.Run
	p := "/jobs/" + url.PathEscape(name) + "/run"
	if dryRun {
		p += "?dryRun=1"
	}
	err := c.do(ctx, http.MethodPost, p, &run)
	switch {
	case errors.Is(err, errNoDaemon):
		run, err = runLocally(ctx, cfg, name, dryRun, c, errors.Unwrap(err), stderr)
		if err != nil && run.Result == "" {
			return err
		}
	case errors.Is(err, errConflict):
		return fmt.Errorf("jobs run %s: already running in the daemon", name)
	case err != nil:
		return fmt.Errorf("jobs run %s: %w", name, err)
	}
	printRun(stdout, run)
	if run.Result != jobs.ResultSuccess {
		return fmt.Errorf("jobs run %s: %s: %s", name, run.Result, run.Err)
	}
	return nil
}

// runLocally runs the job in this process when no daemon answered: it
// takes the writer lock (sqlite.Open), migrates, and runs the job through a
// scheduler built like the daemon's, so that the run is guarded, recorded
// in job_runs and chained the same way.
func runLocally(ctx context.Context, cfg *config.Config, name string, dryRun bool, c *jobsClient, dialErr error, stderr io.Writer) (jobs.Run, error) {
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
			if c.base != "" {
				where = fmt.Sprintf("its HTTP endpoint %s does not answer (%v)", c.base, dialErr)
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

func printRun(w io.Writer, r jobs.Run) {
	dry := ""
	if r.DryRun {
		dry = " (dry run)"
	}
	fmt.Fprintf(w, "%s: %s%s, %d rows in %s\n", r.Job, r.Result, dry, r.Rows, r.Duration().Round(time.Millisecond))
	if r.Detail != "" {
		fmt.Fprintf(w, "  %s\n", r.Detail)
	}
	if r.Err != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Err)
	}
}

// Outcomes of a jobsClient request that callers branch on.
var (
	errNoDaemon = errors.New("no daemon answers")
	errConflict = errors.New("conflict")
)

// noDaemonError says why no daemon answered; errors.Is(err, errNoDaemon).
type noDaemonError struct{ cause error }

func (e *noDaemonError) Error() string        { return errNoDaemon.Error() + ": " + e.cause.Error() }
func (e *noDaemonError) Is(target error) bool { return target == errNoDaemon }
func (e *noDaemonError) Unwrap() error        { return e.cause }

// jobsClient calls the daemon's job API.
type jobsClient struct {
	base string // http://host:port, "" when http.listen is empty
	cfg  config.HTTPConfig
	hc   *http.Client
}

// newJobsClient targets the address the daemon listens on; a wildcard host
// (":9108", "0.0.0.0:9108") is reached on loopback.
func newJobsClient(cfg config.HTTPConfig) *jobsClient {
	c := &jobsClient{cfg: cfg, hc: &http.Client{
		Transport: &http.Transport{
			Proxy:       nil, // the daemon is local; never go through a proxy
			DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		},
	}}
	if cfg.Listen == "" {
		return c
	}
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return c
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	c.base = "http://" + net.JoinHostPort(host, port)
	return c
}

// authorize adds the daemon's configured credentials to req.
func (c *jobsClient) authorize(req *http.Request) {
	switch {
	case c.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	case c.cfg.Username != "":
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
}

// do sends a request and decodes a 2xx JSON answer into out. It returns
// an error wrapping errNoDaemon when nothing listens (or http.listen is
// empty), errConflict for 409, and the daemon's message otherwise.
func (c *jobsClient) do(ctx context.Context, method, path string, out any) error {
	if c.base == "" {
		return &noDaemonError{errors.New("http.listen is empty")}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		if isNoListener(err) {
			return &noDaemonError{err}
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusConflict && !strings.Contains(string(body), `"error"`):
		return errConflict // the skipped Run: a run is still going
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: unauthorized: check http.username/http.password or http.bearerToken", method, c.base+path)
	case resp.StatusCode/100 != 2:
		var e struct{ Error string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("%s %s: %s: %s", method, c.base+path, resp.Status, e.Error)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, c.base+path, err)
	}
	return nil
}

// isNoListener reports whether err means nothing accepts connections at
// the address, as opposed to a daemon that answered badly.
func isNoListener(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) ||
		(errors.As(err, &op) && op.Op == "dial")
}
