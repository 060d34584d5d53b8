package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/sqlite/sqlitetest"
)

// captureFile writes n packet messages (3 observers per packet) in the
// capture format, gzip-compressed when gz, plus one line that is not a
// message.
func captureFile(t *testing.T, dir string, n int, gz bool) string {
	t.Helper()
	var buf bytes.Buffer
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range n {
		for _, o := range []string{"Obs A", "Obs B", "Obs C"} {
			line, err := spool.AppendJSON(nil, &spool.Record{
				Source: "eu", Topic: packetsTopic("SJC", observerKey(o)),
				Payload: packetJSON(o, uniquePacket(i), at), Received: at.Add(time.Duration(i) * time.Second),
			})
			if err != nil {
				t.Fatal(err)
			}
			buf.Write(line)
		}
		if i == n/2 {
			buf.WriteString("{this is not json\n")
		}
	}
	name := filepath.Join(dir, "capture.jsonl")
	data := buf.Bytes()
	if gz {
		name += ".gz"
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func runCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	// stderr takes the progress lines (written by the importer's progress
	// goroutine) and the warnings: it must be safe for concurrent writes.
	var out bytes.Buffer
	var errb logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func TestImportCaptureFilesIdempotent(t *testing.T) {
	cfg := &testConfig{}
	path := cfg.Write(t)
	dir := t.TempDir()
	plain := captureFile(t, dir, 50, false)
	gz := captureFile(t, t.TempDir(), 50, true)

	// A plain {topic, payload} file, payload as a JSON object.
	var pl bytes.Buffer
	for i := 100; i < 110; i++ {
		var payload map[string]any
		json.Unmarshal(packetJSON("Obs A", uniquePacket(i), time.Now()), &payload)
		b, _ := json.Marshal(map[string]any{"topic": packetsTopic("SJC", observerKey("Obs A")), "payload": payload})
		pl.Write(append(b, '\n'))
	}
	plainJSONL := filepath.Join(dir, "plain.jsonl")
	os.WriteFile(plainJSONL, pl.Bytes(), 0o600)

	out, stderr, err := runCmd(t, "import", "-config", path, plain, plainJSONL)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "imported 160 messages (1 bad lines)") {
		t.Fatalf("stdout %q\nstderr %s", out, stderr)
	}
	db := openDB(t, cfg.DBPath())
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 60 {
		t.Fatalf("transmissions = %d, want 60", n)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != 160 {
		t.Fatalf("observations = %d, want 160", n)
	}
	// Receipt times come from the capture.
	if n := count(t, db, "SELECT count(*) FROM transmissions WHERE first_seen = '2026-11-30T12:00:00Z'"); n != 1 {
		t.Fatalf("first_seen not taken from the capture's receipt time")
	}

	// The same input again (the gzip copy holds the same messages): nothing new.
	if _, stderr, err := runCmd(t, "import", "-config", path, gz, plain); err != nil {
		t.Fatalf("second import: %v\n%s", err, stderr)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != 160 {
		t.Fatalf("observations after re-import = %d, want 160", n)
	}
}

func TestImportFromDB(t *testing.T) {
	t.Run("legacy", func(t *testing.T) { testImportFromDB(t, sqlitetest.CopyFixture(t)) })
	t.Run("head", func(t *testing.T) { testImportFromDB(t, sqlitetest.CopyHeadFixture(t)) })
}

func testImportFromDB(t *testing.T, other string) {
	cfg := &testConfig{}
	path := cfg.Write(t)
	src := openDB(t, other)
	wantObs := count(t, src, "SELECT count(*) FROM observations")
	wantTx := count(t, src, "SELECT count(DISTINCT transmission_id) FROM observations")
	// The legacy fixture has no inactive_nodes table (count reports -1).
	wantNodes := count(t, src, "SELECT count(*) FROM nodes") + max(0, count(t, src, "SELECT count(*) FROM inactive_nodes WHERE public_key NOT IN (SELECT public_key FROM nodes)"))
	wantObservers := count(t, src, "SELECT count(*) FROM observers")

	for range 2 { // the second merge adds nothing
		if _, stderr, err := runCmd(t, "import", "-config", path, "--from-db", other); err != nil {
			t.Fatalf("import --from-db: %v\n%s", err, stderr)
		}
		db := openDB(t, cfg.DBPath())
		if got := count(t, db, "SELECT count(*) FROM observations"); got != wantObs {
			t.Fatalf("observations = %d, want %d", got, wantObs)
		}
		if got := count(t, db, "SELECT count(*) FROM transmissions"); got != wantTx {
			t.Fatalf("transmissions = %d, want %d", got, wantTx)
		}
		if got := count(t, db, "SELECT count(*) FROM nodes") + count(t, db, "SELECT count(*) FROM inactive_nodes"); got != wantNodes {
			t.Fatalf("nodes = %d, want %d", got, wantNodes)
		}
		if got := count(t, db, "SELECT count(*) FROM observers"); got != wantObservers {
			t.Fatalf("observers = %d, want %d", got, wantObservers)
		}
	}
	// Node and observer fields come across.
	db := openDB(t, cfg.DBPath())
	var name string
	if err := db.QueryRow("SELECT name FROM nodes WHERE public_key = '988396af0ff369c2178a8c2a303661bf26193257136ed4452b6eadd9547011e9'").Scan(&name); err != nil || name != "KN6PLV-BrkOxfLA-Yebes" {
		t.Fatalf("merged node name %q: %v", name, err)
	}
	// Merging a database into itself is refused.
	if _, _, err := runCmd(t, "import", "-config", path, "--from-db", cfg.DBPath()); err == nil || !strings.Contains(err.Error(), "itself") {
		t.Fatalf("self merge: %v", err)
	}
}

func TestImportUsage(t *testing.T) {
	cfg := &testConfig{}
	path := cfg.Write(t)
	for _, args := range [][]string{
		{"import", "-config", path},
		{"import", "-config", path, "/nonexistent/file.jsonl"},
		{"import", "-config", path, "--from-db", "x.db", "file.jsonl"},
	} {
		if _, _, err := runCmd(t, args...); exitCode(err, &bytes.Buffer{}) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// With a daemon running, import goes through it (the daemon stays the only
// writer and its lock is never contended): the CLI streams the progress the
// daemon sends and the rows appear in the daemon's database.
func TestImportThroughDaemon(t *testing.T) {
	parallelDaemon(t)
	addr := freeLoopbackAddr(t)
	cfg := &testConfig{HTTP: true, Extra: map[string]any{"broker": map[string]any{"listen": addr}, "mqttSources": []any{}}}
	d := startDaemonNoWait(t, cfg)
	file := captureFile(t, t.TempDir(), 40, true)
	// The CLI finds the daemon through http.listen of its config: the
	// daemon's was 127.0.0.1:0, so point a config at the bound address.
	cliPath := filepath.Join(t.TempDir(), "cli.yaml")
	os.WriteFile(cliPath, []byte("dbPath: "+cfg.DBPath()+"\nhttp: {listen: \""+d.addr+"\"}\n"), 0o600)
	out, stderr, err := runCmd(t, "import", "-config", cliPath, file)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "importing in this process") || !strings.Contains(out, "imported 120 messages (1 bad lines)") {
		t.Fatalf("did not go through the daemon: stdout %q stderr %q", out, stderr)
	}
	db := openDB(t, cfg.DBPath())
	if n := count(t, db, "SELECT count(*) FROM observations"); n != 120 {
		t.Fatalf("observations = %d, want 120", n)
	}
	if !strings.Contains(d.logs.String(), `msg="import finished"`) {
		t.Fatal("the daemon did not log the import")
	}
}
