package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

func TestServerJobNamesMatchMaintenance(t *testing.T) {
	if maintenance.NameMultibyteSnapshot != maintenance.NameMultibyteSnapshot || maintenance.NamePruneRequests != maintenance.NamePruneRequests {
		t.Errorf("config names %q %q, maintenance names %q %q", maintenance.NameMultibyteSnapshot, maintenance.NamePruneRequests,
			maintenance.NameMultibyteSnapshot, maintenance.NamePruneRequests)
	}
}

// TestCmdJobsRunPruneRequest runs the geo-prune queue through
// "corescope-ingestor jobs run pruneRequests" on a copy of the fixture:
// request file → node deleted → result file, request removed.
func TestCmdJobsRunPruneRequest(t *testing.T) {
	env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, freePort(t)), "")
	db := openJobsDB(t, env.dbPath)
	var key string
	if err := db.Reader().QueryRow(`SELECT public_key FROM nodes ORDER BY public_key LIMIT 1`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	before := count(t, db.Reader(), `SELECT count(*) FROM nodes`)
	db.Close()

	dir := filepath.Join(filepath.Dir(env.dbPath), maintenance.PruneRequestsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	req := filepath.Join(dir, "request-0a1b.json")
	body := fmt.Sprintf(`{"id":"0a1b","requestedAt":"2026-05-20T12:00:00Z","pubkeys":[%q]}`, key)
	if err := os.WriteFile(req, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runJobs(t, "run", maintenance.NamePruneRequests, "-config", env.cfgPath)
	if err != nil || !strings.Contains(out, "pruneRequests: success, 1 rows") {
		t.Fatalf("jobs run pruneRequests: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	db = openJobsDB(t, env.dbPath)
	if n := count(t, db.Reader(), `SELECT count(*) FROM nodes WHERE public_key = ?`, key); n != 0 {
		t.Errorf("node %s not deleted", key)
	}
	if n := count(t, db.Reader(), `SELECT count(*) FROM nodes`); n != before-1 {
		t.Errorf("nodes = %d, want %d", n, before-1)
	}
	if _, err := os.Stat(req); !os.IsNotExist(err) {
		t.Errorf("request not removed: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "result-0a1b.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil || res["id"] != "0a1b" || res["deleted"] != 1.0 {
		t.Errorf("result file = %s (%v)", b, err)
	}
	runs, err := db.LastJobRuns(context.Background(), maintenance.NamePruneRequests, 5)
	if err != nil || len(runs) != 1 || runs[0].Result != jobs.ResultSuccess || runs[0].Rows != 1 {
		t.Errorf("job_runs = %+v, %v", runs, err)
	}
}
