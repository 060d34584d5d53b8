package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
	"github.com/prometheus/client_golang/prometheus"
)

func TestJobNamesMatchMaintenance(t *testing.T) {
	for cfgName, name := range map[string]string{
		maintenance.NameStaleNodes:     maintenance.NameStaleNodes,
		maintenance.NameStaleObservers: maintenance.NameStaleObservers,
		maintenance.NamePruneMetrics:   maintenance.NamePruneMetrics,
		maintenance.NamePrunePackets:   maintenance.NamePrunePackets,
		maintenance.NameVacuum:         maintenance.NameVacuum,
		maintenance.NameWALCheckpoint:  maintenance.NameWALCheckpoint,
	} {
		if cfgName != name {
			t.Errorf("config job %q, maintenance job %q", cfgName, name)
		}
	}
}

// jobsEnv is a config file and a database for the jobs tests.
type jobsEnv struct {
	cfgPath string
	dbPath  string
	cfg     *config.Config
}

// newJobsEnv writes a config whose database is a copy of the fixture, with
// the given http section (JSON object body) and extra top-level keys.
func newJobsEnv(t *testing.T, httpSection, extra string) jobsEnv {
	t.Helper()
	cleanEnv(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "meshcore.db")
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "corescope-fixture.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if extra != "" {
		extra = ",\n" + extra
	}
	cfgPath := filepath.Join(dir, "config.json")
	body := fmt.Sprintf(`{"dbPath": %q, "http": {%s}, "retention": {"packetDays": 30}%s}`, db, httpSection, extra)
	if err := os.WriteFile(cfgPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return jobsEnv{cfgPath: cfgPath, dbPath: db, cfg: cfg}
}

func openJobsDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestBuildSchedulerRegistersEveryJob(t *testing.T) {
	env := newJobsEnv(t, `"listen": ""`, "")
	db := openJobsDB(t, env.dbPath)
	reg := prometheus.NewRegistry()
	s, err := buildScheduler(env.cfg, db, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]jobs.JobStatus{}
	for _, j := range s.Jobs() {
		got[j.Name] = j
	}
	for _, j := range env.cfg.Jobs.List() {
		st, ok := got[j.Name]
		if !ok {
			t.Errorf("job %s not registered", j.Name)
			continue
		}
		if st.Schedule != j.Schedule || st.Enabled != j.Enabled {
			t.Errorf("%s: schedule %q enabled %v; config %q %v", j.Name, st.Schedule, st.Enabled, j.Schedule, j.Enabled)
		}
	}
	if v := got[maintenance.NameVacuum]; v.Schedule != "" || !v.Next.IsZero() {
		t.Errorf("vacuum is scheduled (%q); it runs chained only", v.Schedule)
	}
	for _, name := range []string{maintenance.NamePrunePackets, maintenance.NamePruneMetrics, maintenance.NameStaleNodes} {
		if then := got[name].Then; len(then) != 1 || then[0] != maintenance.NameVacuum {
			t.Errorf("%s chains %v, want vacuum", name, then)
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}

	// Days 0 disables the packet prune, as retention.packetDays: 0 does.
	off := newJobsEnv(t, `"listen": ""`, "")
	off.cfg.Jobs.PrunePackets.Days, off.cfg.Jobs.PrunePackets.Enabled = 0, false
	s2, err := buildScheduler(off.cfg, openJobsDB(t, off.dbPath), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range s2.Jobs() {
		if j.Name == maintenance.NamePrunePackets && (j.Enabled || !j.Next.IsZero()) {
			t.Errorf("prunePackets with days 0: %+v", j)
		}
	}
}

func TestStartupMaintenanceFullVacuum(t *testing.T) {
	ctx := context.Background()
	for _, on := range []bool{false, true} {
		env := newJobsEnv(t, `"listen": ""`, fmt.Sprintf(`"db": {"vacuumOnStartup": %v}`, on))
		db := openJobsDB(t, env.dbPath)
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		sched, err := buildScheduler(env.cfg, db, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := startupMaintenance(ctx, env.cfg, db, sched, log); err != nil {
			t.Fatal(err)
		}
		mode, err := db.AutoVacuumMode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		runs, _ := db.LastJobRuns(ctx, maintenance.NameFullVacuum, 5)
		if !on {
			if mode != 0 || len(runs) != 0 || !strings.Contains(logs.String(), "onStartup") {
				t.Errorf("vacuumOnStartup=false: mode %d, runs %v, log %s", mode, runs, logs.String())
			}
			continue
		}
		if mode != 2 {
			t.Errorf("auto_vacuum = %d after the startup vacuum, want 2 (INCREMENTAL)", mode)
		}
		if len(runs) != 1 || runs[0].Result != jobs.ResultSuccess {
			t.Errorf("job_runs for fullVacuum = %+v", runs)
		}
		// The next start finds the file converted and does nothing.
		logs.Reset()
		if sched, err = buildScheduler(env.cfg, db, nil, log); err != nil {
			t.Fatal(err)
		}
		if err := startupMaintenance(ctx, env.cfg, db, sched, log); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "auto_vacuum is INCREMENTAL") {
			t.Errorf("second start logged %s", logs.String())
		}
	}
}

// daemonAPI serves the job API of a scheduler built from env on a real
// database through the daemon's HTTP server, behind a bearer token, at
// env's http.listen.
func daemonAPI(t *testing.T, env jobsEnv, token string) *jobs.Scheduler {
	t.Helper()
	db := openJobsDB(t, env.dbPath)
	reg := prometheus.NewRegistry()
	s, err := buildScheduler(env.cfg, db, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := jobs.NewServer(jobs.ServerOptions{Listen: env.cfg.HTTP.Listen, BearerToken: token}, reg, s,
		func() error { return nil }, func() jobs.Readiness { return jobs.Readiness{Ready: true} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("http server: %v", err)
		}
	})
	return s
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func runJobs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmdJobs(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestCmdJobsAgainstDaemon(t *testing.T) {
	addr := freePort(t)
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q, "bearerToken": "tok3n"`, addr), "")
	daemonAPI(t, env, "tok3n")

	out, _, err := runJobs(t, "-config", env.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAME", "prunePackets", "@daily", "chained", "walCheckpoint"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}

	// The fixture's packets are from May 2026, older than 30 days.
	out, _, err = runJobs(t, "run", "prunePackets", "--dry-run", "-config", env.cfgPath)
	if err != nil || !strings.Contains(out, "prunePackets: success (dry run), ") || strings.Contains(out, "transmissions=0 ") {
		t.Fatalf("run --dry-run: %v\n%s", err, out)
	}
	out, _, err = runJobs(t, "-config", env.cfgPath, "run", "staleNodes")
	if err != nil || !strings.Contains(out, "staleNodes: success, ") || !strings.Contains(out, "nodes=") {
		t.Fatalf("run staleNodes: %v\n%s", err, out)
	}
	out, _, err = runJobs(t, "-config", env.cfgPath)
	if err != nil || !strings.Contains(out, "success (dry run)") {
		t.Errorf("list after runs: %v\n%s", err, out)
	}

	// A wrong token is reported, not mistaken for a missing daemon.
	bad := env
	badCfg := filepath.Join(filepath.Dir(env.cfgPath), "bad.json")
	os.WriteFile(badCfg, []byte(fmt.Sprintf(`{"dbPath": %q, "http": {"listen": %q, "bearerToken": "wrong"}}`, env.dbPath, addr)), 0o644)
	bad.cfgPath = badCfg
	if _, _, err := runJobs(t, "run", "vacuum", "-config", bad.cfgPath); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestCmdJobsRunsLocallyWithoutDaemon(t *testing.T) {
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, freePort(t)), "")
	out, errOut, err := runJobs(t, "run", "prunePackets", "-config", env.cfgPath)
	if err != nil || !strings.Contains(out, "prunePackets: success, ") || !strings.Contains(errOut, "running prunePackets in this process") {
		t.Fatalf("local run: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	db := openJobsDB(t, env.dbPath)
	var left int
	db.Reader().QueryRow("SELECT count(*) FROM transmissions").Scan(&left)
	if left != 0 {
		t.Errorf("%d transmissions left after pruning the fixture's old packets", left)
	}
	for _, job := range []string{maintenance.NamePrunePackets, maintenance.NameVacuum} { // the vacuum is chained
		runs, err := db.LastJobRuns(context.Background(), job, 5)
		if err != nil || len(runs) != 1 || runs[0].Result != jobs.ResultSuccess {
			t.Errorf("job_runs of %s after a local run = %+v, %v", job, runs, err)
		}
	}
	db.Close()
	out, errOut, err = runJobs(t, "-config", env.cfgPath)
	if err != nil || !strings.Contains(errOut, "showing the configured jobs") || !strings.Contains(out, "staleObservers") {
		t.Errorf("list without daemon: %v\n%s\n%s", err, out, errOut)
	}
}

func TestCmdJobsLockHeldWithoutHTTP(t *testing.T) {
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, freePort(t)), "")
	openJobsDB(t, env.dbPath) // this process plays the daemon whose HTTP is down
	_, _, err := runJobs(t, "run", "vacuum", "-config", env.cfgPath)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("lock held: %v", err)
	}
	env2 := newJobsEnv(t, `"listen": ""`, "")
	openJobsDB(t, env2.dbPath)
	if _, _, err := runJobs(t, "run", "vacuum", "-config", env2.cfgPath); err == nil || !strings.Contains(err.Error(), "http.listen is empty") {
		t.Fatalf("lock held, http disabled: %v", err)
	}
}

func TestCmdJobsUsage(t *testing.T) {
	env := newJobsEnv(t, `"listen": ""`, "")
	for _, args := range [][]string{
		{"run", "nope", "-config", env.cfgPath},
		{"run", "-config", env.cfgPath},
		{"run", "a", "b", "-config", env.cfgPath},
		{"frob", "-config", env.cfgPath},
		{"--dry-run", "-config", env.cfgPath},
		{"-bogus"},
		{"run", "vacuum", "-config", filepath.Join(t.TempDir(), "missing.json")},
	} {
		_, _, err := runJobs(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("jobs %q = %v, want a usage error", args, err)
		}
	}
	if _, _, err := runJobs(t, "-h"); err != nil {
		t.Errorf("-h: %v", err)
	}
}

func TestParseInterleaved(t *testing.T) {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	cfg := fs.String("config", "", "")
	dry := fs.Bool("dry-run", false, "")
	pos, err := parseInterleaved(fs, []string{"run", "--dry-run", "prunePackets", "-config", "c.json", "--", "-x"})
	if err != nil || strings.Join(pos, " ") != "run prunePackets -x" || !*dry || *cfg != "c.json" {
		t.Fatalf("parseInterleaved = %v, %v, dry %v, config %q", pos, err, *dry, *cfg)
	}
}
