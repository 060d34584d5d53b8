package statsfile

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriteOnceContentAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	w := NewWriter(path, 0, func() Counters {
		return Counters{TxInserted: 3, ObsInserted: 7, TxDupes: 1, WALCommits: 2, BackfillUpdates: map[string]uint64{"path_json": 4}}
	}, nil, nil)
	w.prevIO = readProcIO()
	w.prevIO.at = w.prevIO.at.Add(-time.Second)
	now := time.Date(2026, 11, 26, 6, 3, 12, 500, time.UTC)
	if err := w.WriteOnce(now); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(string(body), "\n") {
		t.Error("trailing newline")
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sampledAt", "tx_inserted", "obs_inserted", "tx_dupes", "node_upserts", "observer_upserts", "write_errors", "sig_drops", "walCommits", "groupCommitFlushes", "backfillUpdates"} {
		if _, ok := got[k]; !ok {
			t.Errorf("key %q missing in %s", k, body)
		}
	}
	if got["sampledAt"] != "2026-11-26T06:03:12Z" || got["tx_inserted"] != 3.0 {
		t.Errorf("unexpected values: %s", body)
	}
	if io, ok := got["procIO"].(map[string]any); ok {
		if io["sampledAt"] != got["sampledAt"] {
			t.Errorf("procIO.sampledAt = %v", io["sampledAt"])
		}
	} else if _, err := os.Stat("/proc/self/io"); err == nil {
		t.Errorf("procIO missing although /proc/self/io exists: %s", body)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "stats.json")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	failures := 0
	w := NewWriter(path, 0, func() Counters { return Counters{} }, nil, func() { failures++ })
	if err := w.WriteOnce(time.Now()); err == nil {
		t.Fatal("write through a planted symlink succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("planted symlink replaced: %v %v", fi, err)
	}
	if failures != 1 {
		t.Fatalf("failures counted %d, want 1", failures)
	}
}

func TestPlantedTempSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	os.WriteFile(target, []byte("precious"), 0o644)
	path := filepath.Join(dir, "stats.json")
	tmp := filepath.Join(dir, ".stats.json.tmp-"+strconv.Itoa(os.Getpid()))
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(path, 0, func() Counters { return Counters{} }, nil, nil)
	if err := w.WriteOnce(time.Now()); err != nil {
		t.Fatal(err) // the stale link is removed (we own the directory), then written safely
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatalf("symlink target overwritten: %q", b)
	}
}

func TestFreshnessWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	w := NewWriter(path, 20*time.Millisecond, func() Counters { return Counters{} }, nil, nil)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { w.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var s struct{ SampledAt string }
			if json.Unmarshal(b, &s) == nil {
				at, err := time.Parse(time.RFC3339, s.SampledAt)
				if err == nil && time.Since(at) < 5*time.Second {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no fresh stats file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
