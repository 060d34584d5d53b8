package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/broker"
	"github.com/corescope/etl/etl/capture"
	"github.com/corescope/etl/etl/mqtt"
	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/statsfile"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/etl/transform"
	"github.com/corescope/etl/etl/uplink"
	"github.com/corescope/etl/jobs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// dbProbeInterval is how often the write path is probed when idle. A
// variable so that tests can shorten it.
var dbProbeInterval = 15 * time.Second

// Daemon tunables that are not worth a config key.
const (
	maxWriterBacklog = time.Minute // /readyz turns red when the oldest uncommitted message is older
	// dropRedFor is how long /readyz stays red after a message was dropped
	// because the spool was full.
	dropRedFor      = time.Minute
	summaryInterval = 5 * time.Minute // periodic one-line ingest summary
)

// newLogger returns the daemon's logger for cfg.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cmdDaemon runs the ingestor until ctx is done.
//
// Startup: config → open the database (taking the single-writer lock) →
// migrations → the scheduler → full VACUUM if configured, through the
// scheduler's guard (it needs the file to itself, so it runs before any
// listener or subscription) → the spool → the other actors, run by
// daemon.run, which documents the shutdown order. The spool and the
// database are closed last.
func cmdDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := daemonConfig(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if limit, from := cfg.MemoryLimit(os.LookupEnv); limit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
		log.Info("memory limit set", "bytes", limit, "from", from)
	} else {
		log.Info("memory limit from the environment", "from", from)
	}
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	var (
		sp *spool.Spool
		d  *daemon
	)
	defer func() {
		if sp != nil {
			if cerr := sp.Close(); cerr != nil {
				log.Error("close spool", "err", cerr)
			}
		}
		if cerr := db.Close(); cerr != nil && err == nil {
			err = cerr // "close database: …"
		} else if cerr != nil {
			log.Error("close database", "err", cerr)
		}
		if err == nil && d != nil {
			// Every message received is committed, in the spool for the
			// next start, rejected and counted
			// (corescope_ingest_rejects_total), or lost as counted here.
			sum := d.pipe.Summary()
			log.Info("stopped", "committed", sum.Committed, "spooled", sum.Spooled, "lost", sum.Lost)
		}
	}()

	reg := prometheus.NewRegistry()
	// The resolver of resolved_path: the transform reads it, the
	// neighborEdges job refreshes it (at start, then every minute).
	topo := topology.NewLive(db)
	jobsLog := log.With("component", "jobs")
	sched, err := buildScheduler(cfg, db, reg, jobsLog, topo)
	if err != nil {
		return err
	}
	if err := startupMaintenance(ctx, cfg, db, sched, jobsLog); err != nil {
		return err
	}
	spoolDir := cfg.Ingest.SpoolDir
	if spoolDir == "" {
		spoolDir = cfg.DBPath + ".spool"
	}
	if sp, err = spool.Open(spoolDir, spool.Options{MaxBytes: cfg.Ingest.SpoolMaxBytes, Logger: log.With("component", "spool"), Registerer: reg}); err != nil {
		return err
	}
	if d, err = newDaemon(cfg, db, sp, sched, topo, reg, log); err != nil {
		return err
	}
	return d.run(ctx)
}

// daemonConfig parses the daemon's flags and loads its config.
func daemonConfig(args []string, stderr io.Writer) (*config.Config, error) {
	fs := flag.NewFlagSet("corescope-ingestor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q (see -help)", fs.Arg(0))}
	}
	cfg, err := cf.load(slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return nil, err
	}
	newLogger(cfg, stderr).Info("starting", "version", version, "config", cf.path, "db", cfg.DBPath)
	return cfg, nil
}

// openDatabase opens the database, taking the writer lock, and migrates it.
// sqlite names its operations ("open database: …", "migrate: …").
func openDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, cfg.DBPath, sqlite.Options{Logger: log.With("component", "db")})
	if err != nil {
		return nil, err
	}
	applied, err := db.Migrate(sqlite.WithComponent(ctx, sqlite.ComponentOther))
	if err != nil {
		db.Close()
		return nil, err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "count", len(applied), "names", applied)
	}
	return db, nil
}

// daemon holds the wired actors.
type daemon struct {
	cfg     *config.Config
	db      *sqlite.DB
	log     *slog.Logger
	reg     *prometheus.Registry
	pipe    *etl.Pipeline
	tr      *transform.Transformer
	sources []*mqtt.Source
	sched   *jobs.Scheduler
	http    *jobs.Server
	stats   *statsfile.Writer
	started time.Time

	checkpoints *sqlite.CheckpointMetrics
	broker      *broker.Broker  // the embedded broker; nil when off
	capture     *capture.Writer // nil when off
}

// newDaemon builds the actors around db, sp and sched, listeners included;
// run runs them.
func newDaemon(cfg *config.Config, db *sqlite.DB, sp *spool.Spool, sched *jobs.Scheduler, topo *topology.Live, reg *prometheus.Registry, log *slog.Logger) (*daemon, error) {
	d := &daemon{cfg: cfg, db: db, log: log, reg: reg, sched: sched, started: time.Now()}
	d.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
		db.Collector(),
	)
	d.checkpoints = sqlite.NewCheckpointMetrics(d.reg, log.With("component", "db"))

	var err error
	if d.tr, err = newTransformer(cfg, d.reg, log, topo); err != nil {
		return nil, err
	}
	d.pipe = etl.NewPipeline(etl.PipelineConfig{
		QueueSize:  cfg.Ingest.QueueSize,
		QueueBytes: cfg.Ingest.QueueMaxBytes,
		BatchSize:  cfg.Ingest.BatchSize,
		BatchDelay: cfg.Ingest.BatchDelay,
		// The drain starts once the subscriptions have stopped.
		DrainTimeout: cfg.Ingest.ShutdownTimeout,
		Spool:        sp,
		Admit:        d.tr.Admit,
		Logger:       log.With("component", "ingest"),
		Registerer:   d.reg,
	}, db, d.tr)

	if err := d.newSubscriptions(); err != nil {
		return nil, err
	}
	if err := d.newServers(); err != nil {
		return nil, err
	}
	return d, nil
}

// newSubscriptions builds capture, the embedded broker and the MQTT
// sources, around the pipeline's Enqueue.
func (d *daemon) newSubscriptions() error {
	cfg, log := d.cfg, d.log
	var err error
	// Every received message passes through enqueue: teed to capture
	// files when configured, then queued.
	enqueue := d.pipe.Enqueue
	if c := cfg.Ingest.Capture; c.Dir != "" {
		if d.capture, err = capture.Open(capture.Options{
			Dir: c.Dir, MaxFileBytes: c.MaxFileBytes, MaxFileAge: c.MaxFileAge, Keep: c.Keep, NoCompress: !c.Compress,
			Logger: log.With("component", "capture"), Registerer: d.reg,
		}); err != nil {
			return err
		}
		next := enqueue
		enqueue = func(ctx context.Context, m etl.Message) error {
			if len(m.Payload) <= cfg.Ingest.MaxMessageBytes {
				d.capture.Write(m)
			}
			return next(ctx, m)
		}
	}
	if bc := cfg.Broker.Config; bc.Enabled() {
		bc.Name = cfg.Broker.SourceName()
		if bc.MaxMessageBytes == 0 {
			bc.MaxMessageBytes = cfg.Ingest.MaxMessageBytes
		}
		if d.broker, err = broker.Open(bc, broker.Enqueue(enqueue), log.With("component", "broker")); err != nil {
			return err
		}
		d.reg.MustRegister(d.broker.Collector())
	}

	mm := mqtt.NewMetrics(d.reg, uplink.TopicKind, uplink.TopicKinds)
	for _, s := range cfg.MQTTSources {
		d.sources = append(d.sources, mqtt.NewSource(s.MQTTConfig(), enqueue, log.With("component", "mqtt"), mm))
	}
	return nil
}

// newServers builds the HTTP server and the stats file writer, when
// configured.
func (d *daemon) newServers() error {
	cfg, db, log := d.cfg, d.db, d.log
	var err error
	if cfg.HTTP.Listen != "" {
		opts := cfg.HTTP
		opts.Import = capture.ImportHandler(d.pipe.Enqueue, db.MergeFile, log.With("component", "import"))
		d.http, err = jobs.NewServer(opts, d.reg, d.sched, d.alive, d.readiness, log.With("component", "http"))
		if err != nil {
			return err
		}
	}
	if cfg.Stats.File != "" {
		failures := prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_stats_file_write_failures_total",
			Help: "Failed writes of the per-second stats file.",
		})
		d.reg.MustRegister(failures)
		d.stats = statsfile.NewWriter(cfg.Stats.File, cfg.Stats.Interval, d.statsSnapshot, log.With("component", "stats"), failures.Inc)
	}
	return nil
}

// run runs the actors, one goroutine each in one errgroup, until ctx is
// done or one of them fails. Then it stops them in this order, each step
// once the one before has returned:
//
//  1. stop the subscriptions: the MQTT sources (a persistent session first
//     waits briefly for the acks of what it handed over) and the embedded
//     broker; at the same time the scheduler starts no new job and cancels
//     the running ones.
//  2. the pipeline flushes and commits the open batch and what is still
//     queued, acks each committed message, and spools what it could not
//     commit within ingest.shutdownTimeout; capture writes what the sources
//     delivered last; running jobs are waited for, at most
//     ingest.shutdownTimeout (their chunks are transactions).
//  3. stop HTTP (it serves /readyz during the drain), the stats file, the
//     write probe, the summaries and the checkpointer.
//
// cmdDaemon then closes the spool, checkpoints and closes the database.
func (d *daemon) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	// The context of each step ends when the step before it has returned.
	drainCtx, drain := context.WithCancel(context.WithoutCancel(ctx))
	defer drain()
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAux()
	var subscriptions, writers sync.WaitGroup
	goStep := func(step *sync.WaitGroup, run func() error) {
		step.Add(1)
		g.Go(func() error {
			defer step.Done()
			return run()
		})
	}

	// 1. Subscriptions.
	for _, s := range d.sources {
		goStep(&subscriptions, func() error { return subscription(ctx, s.Run) })
	}
	if d.broker != nil {
		goStep(&subscriptions, func() error { return subscription(ctx, d.broker.Run) })
		d.printQuickStart()
	}
	// 2. The writer, capture and the jobs.
	goStep(&writers, func() error { return d.pipe.Run(drainCtx) })
	if d.capture != nil {
		// A capture failure is reported by /readyz; ingest goes on.
		goStep(&writers, func() error { d.capture.Run(drainCtx); return nil })
	}
	goStep(&writers, func() error { return d.sched.Run(ctx) })
	// 3. What serves and watches the others.
	if d.http != nil {
		g.Go(func() error { return d.http.Run(auxCtx) })
	}
	if d.stats != nil {
		g.Go(func() error { return d.stats.Run(auxCtx) })
	}
	g.Go(func() error { d.db.RunProbe(auxCtx, dbProbeInterval, d.pipe.LastCommit); return nil })
	g.Go(func() error { d.summaries(auxCtx); return nil })
	g.Go(func() error { return d.db.RunCheckpointer(auxCtx, 0, d.checkpoints.Observe) })

	// The sequence.
	g.Go(func() error {
		subscriptions.Wait()
		drain()
		writers.Wait()
		stopAux()
		return nil
	})
	err := g.Wait()
	d.pipe.LogSummary("final ingest summary", "sig_drops", d.tr.SigDrops())
	return err
}

// subscription runs a source or the embedded broker (each names itself in
// its errors: "mqtt source %q: …", "broker: …") until ctx is done. What it
// returns at shutdown is its cleanup, not a failure.
func subscription(ctx context.Context, run func(context.Context) error) error {
	err := run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("stopped unexpectedly")
	}
	return fmt.Errorf("stream ingest: %w", err)
}

// alive is the liveness check: the writer is not wedged.
func (d *daemon) alive() error {
	if d.pipe.QueueLen() > 0 && d.pipe.Backlog() > 10*maxWriterBacklog {
		return fmt.Errorf("writer stuck: oldest message waiting %s", d.pipe.Backlog().Round(time.Second))
	}
	return nil
}

// readiness reports whether ingest is really flowing. There is no startup
// grace: the daemon is not ready until the database has proven writable
// and a source has connected; a connected source gets stallAfter for its
// first message.
func (d *daemon) readiness() jobs.Readiness {
	var reasons []string
	if at, err := d.db.Probed(); err != nil {
		reasons = append(reasons, "database not writable: "+err.Error())
	} else if at.IsZero() {
		reasons = append(reasons, "database not probed yet")
	} else if time.Since(at) > 4*dbProbeInterval {
		reasons = append(reasons, "database probe stale")
	}
	if t := d.pipe.LastDrop(); !t.IsZero() && time.Since(t) < dropRedFor {
		reasons = append(reasons, fmt.Sprintf("messages dropped: the queue and the spool are full (%d since start)", d.pipe.Stats().Lost.Load()))
	}
	if d.pipe.Failing() {
		reasons = append(reasons, "database unavailable: the writer is retrying a batch")
	}
	if b := d.pipe.Backlog(); b > maxWriterBacklog {
		reasons = append(reasons, fmt.Sprintf("writer behind: oldest message waiting %s", b.Round(time.Second)))
	}
	flowing := 0
	var srcReasons []string
	now := time.Now()
	for _, s := range d.sources {
		if s.WatchdogStopped(now) {
			reasons = append(reasons, fmt.Sprintf("source %s: stall watchdog not running", s.Name()))
		}
		if ok, why := s.Flowing(now); ok {
			flowing++
		} else {
			srcReasons = append(srcReasons, why)
		}
	}
	if d.broker != nil {
		if d.broker.Serving() {
			flowing++ // observers publish to it; no message yet is no failure
		} else {
			srcReasons = append(srcReasons, "embedded broker not serving yet")
		}
	}
	if (len(d.sources) > 0 || d.broker != nil) && flowing == 0 {
		reasons = append(reasons, srcReasons...)
	}
	r := jobs.Readiness{Ready: len(reasons) == 0, Reasons: reasons}
	if d.capture != nil {
		if err := d.capture.Err(); err != nil {
			// Listed, but ingest goes on: capture is not what readiness is about.
			r.Reasons = append(r.Reasons, "capture stopped (ingest continues): "+err.Error())
		}
	}
	return r
}

// statsSnapshot feeds the stats file.
func (d *daemon) statsSnapshot() statsfile.Counters {
	s := d.pipe.Stats()
	sts, live, tick := d.sourcePanels()
	perf := make(map[string]statsfile.WriterPerf)
	for k, v := range d.db.WriterPerf() {
		perf[k] = statsfile.WriterPerf(v)
	}
	return statsfile.Counters{
		TxInserted:         s.TxInserted.Load(),
		ObsInserted:        s.ObsInserted.Load() + s.ObsDupes.Load(), // CoreScope counts conflict updates too
		TxDupes:            s.TxDupes.Load(),
		NodeUpserts:        s.NodeUpserts.Load(),
		ObserverUpserts:    s.ObserverUpserts.Load(),
		WriteErrors:        s.WriteErrors.Load(),
		SigDrops:           d.tr.SigDrops(),
		WALCommits:         s.Commits.Load(),
		GroupCommitFlushes: s.Commits.Load(),
		WriterPerf:         perf,
		SourceStatuses:     sts,
		SourceLiveness:     live,
		WatchdogLastTick:   tick,
	}
}

// summaries logs a one-line ingest summary every summaryInterval.
func (d *daemon) summaries(ctx context.Context) {
	t := time.NewTicker(summaryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.pipe.LogSummary("ingest summary", "sig_drops", d.tr.SigDrops())
		}
	}
}

// buildInfo exports corescope_build_info{version,goversion}, which the
// dashboards read. collectors.NewBuildInfoCollector is not a replacement: it
// exports go_build_info{path,version,checksum}, with the module version
// ("(devel)" for a local build) rather than main.version.
func buildInfo() prometheus.Collector {
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "corescope_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	g.WithLabelValues(version, goVersion).Set(1)
	return g
}

// printQuickStart tells, once, what to point an observer at when the
// embedded broker runs.
func (d *daemon) printQuickStart() {
	addr := d.broker.Addr()
	var b strings.Builder
	fmt.Fprintf(&b, "embedded MQTT broker on %s: point observers at mqtt://%s (topic meshcore/<IATA>/<observer>/packets)", addr, addr)
	if d.cfg.HTTP.Listen != "" {
		fmt.Fprintf(&b, "; watch http://%s/metrics and /readyz", d.cfg.HTTP.Listen)
	}
	fmt.Fprintf(&b, "; try it with: go run ./cmd/corescope-loadgen -demo -broker tcp://%s", addr)
	d.log.Info(b.String(), "db", d.cfg.DBPath)
}
