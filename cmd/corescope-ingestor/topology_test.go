package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl/mqtt/mqtttest"
	"github.com/corescope/etl/jobs/maintenance"
)

func TestTopologyJobNames(t *testing.T) {
	if maintenance.NameNeighborEdges != maintenance.NameNeighborEdges || maintenance.NamePruneNeighborEdges != maintenance.NamePruneNeighborEdges {
		t.Errorf("config names %q, %q; maintenance names %q, %q",
			maintenance.NameNeighborEdges, maintenance.NamePruneNeighborEdges, maintenance.NameNeighborEdges, maintenance.NamePruneNeighborEdges)
	}
	cfg := config.Default()
	if j := cfg.Jobs.NeighborEdges; j.Schedule != "@every 1m" || !j.Enabled || j.ChunkRows != maintenance.DefaultNeighborEdgesChunkRows {
		t.Errorf("neighborEdges defaults: %+v", j)
	}
	if j := cfg.Jobs.PruneNeighborEdges; j.Schedule != "@daily" || !j.Enabled {
		t.Errorf("pruneNeighborEdges defaults: %+v", j)
	}
}

// TestCmdJobsRunNeighborEdges runs the job the way an operator does,
// "corescope-ingestor jobs run neighborEdges", on copies of the fixture
// (no daemon: the command runs it in-process). The fixture's
// neighbor_edges were built by CoreScope's server: the job carries on after
// their newest edge instead of counting the history again. Emptied, the
// table is rebuilt from every observation. Either way a second run finds
// nothing new, because the cursor was stored.
func TestCmdJobsRunNeighborEdges(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty=%v", empty), func(t *testing.T) {
			env := newJobsEnv(t, fmt.Sprintf(`"listen": %q`, freePort(t)), "")
			db := openJobsDB(t, env.dbPath)
			var before, obs, maxID, pending int64
			db.Reader().QueryRow(`SELECT count(*) FROM neighbor_edges`).Scan(&before)
			db.Reader().QueryRow(`SELECT count(*), COALESCE(MAX(id), 0) FROM observations`).Scan(&obs, &maxID)
			if empty {
				err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `DELETE FROM neighbor_edges`)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				pending = obs
			}
			db.Close()

			out, errOut, err := runJobs(t, "run", "neighborEdges", "-config", env.cfgPath)
			if err != nil || !strings.Contains(out, "neighborEdges: success, ") || !strings.Contains(errOut, "running neighborEdges in this process") {
				t.Fatalf("jobs run neighborEdges: %v\nstdout: %s\nstderr: %s", err, out, errOut)
			}
			t.Logf("first run (fixture edges %d): %s", before, out)
			if !strings.Contains(out, fmt.Sprintf("observations=%d ", pending)) {
				t.Errorf("first run read other than %d observations: %s", pending, out)
			}
			db = openJobsDB(t, env.dbPath)
			var after int64
			db.Reader().QueryRow(`SELECT count(*) FROM neighbor_edges`).Scan(&after)
			cursor, ok, err := db.NeighborCursor(context.Background())
			if err != nil || !ok || cursor != maxID {
				t.Errorf("cursor = %d, %v, %v; want the last observation id %d", cursor, ok, err, maxID)
			}
			if after == 0 || (!empty && after != before) {
				t.Errorf("neighbor_edges: %d rows before, %d after", before, after)
			}
			db.Close()

			out, _, err = runJobs(t, "run", "neighborEdges", "-config", env.cfgPath)
			if err != nil || !strings.Contains(out, "neighborEdges: success, 0 rows") || !strings.Contains(out, "observations=0 ") {
				t.Errorf("second run: %v\n%s", err, out)
			}
			out, _, err = runJobs(t, "run", "pruneNeighborEdges", "--dry-run", "-config", env.cfgPath)
			if err != nil || !strings.Contains(out, "pruneNeighborEdges: success (dry run)") {
				t.Errorf("prune dry run: %v\n%s", err, out)
			}
		})
	}
}

// TestE2EResolvedPath: the daemon's neighborEdges warm-up indexes the
// nodes already in the database, and a packet relayed through two of them
// is stored with their full keys in resolved_path (head.md §2.8).
func TestE2EResolvedPath(t *testing.T) {
	parallelDaemon(t)
	const (
		keyAA = "aa00000000000000000000000000000000000000000000000000000000000001"
		keyEE = "ee00000000000000000000000000000000000000000000000000000000000002"
		raw   = "0505AABBCCDDEE00000000000000000000" // decoder vector 1: path AA…EE
	)
	b := mqtttest.StartBroker(t)
	cfg := &testConfig{Dir: t.TempDir(), Sources: []testSource{{Name: "a", Broker: b.URL()}}}
	db := openJobsDB(t, cfg.DBPath())
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (public_key, name) VALUES (?, 'a'), (?, 'e')`, keyAA, keyEE)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	startDaemon(t, cfg)
	ro := openDB(t, cfg.DBPath())
	eventually(t, 10*time.Second, "the neighborEdges warm-up", func() bool {
		return count(t, ro, `SELECT count(*) FROM job_runs WHERE job = 'neighborEdges' AND result = 'success'`) > 0
	})
	publish(t, newPublisher(t, b), packetsTopic("sjc", observerKey("Obs A")), false, packetJSON("Obs A", raw, time.Now()))
	eventually(t, 10*time.Second, "the observation", func() bool {
		return count(t, ro, `SELECT count(*) FROM observations`) == 1
	})
	var got sql.NullString
	if err := ro.QueryRow(`SELECT resolved_path FROM observations`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if want := `["` + keyAA + `",null,null,null,"` + keyEE + `"]`; got.String != want {
		t.Errorf("resolved_path = %v, want %s", got, want)
	}
}
