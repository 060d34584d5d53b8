package maintenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs/maintenance"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mbcap(t *testing.T, db *sqlite.DB, table, key string) (int64, string) {
	t.Helper()
	var sup int64
	var ev *string
	if err := db.Reader().QueryRow(`SELECT multibyte_sup, multibyte_evidence FROM `+table+` WHERE public_key = ?`, key).Scan(&sup, &ev); err != nil {
		t.Fatalf("%s %s: %v", table, key, err)
	}
	if ev == nil {
		return sup, "<nil>"
	}
	return sup, *ev
}

func TestMultibyteSnapshot(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	exec(t, db,
		`INSERT INTO nodes (public_key, name) VALUES ('aa11', 'active'), ('cc33', 'keeps-confirmed'), ('dd44', 'downgraded')`,
		`UPDATE nodes SET multibyte_sup = 2, multibyte_evidence = 'advert' WHERE public_key IN ('cc33', 'dd44')`,
		`INSERT INTO inactive_nodes (public_key, name) VALUES ('bb22', 'inactive')`,
	)
	path := filepath.Join(filepath.Dir(db.Path()), maintenance.MultibyteSnapshotFile)
	job := &maintenance.MultibyteSnapshot{DB: db, Path: path}

	// Missing file: a no-op.
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 0 {
		t.Fatalf("missing file: %+v, %v; want a no-op", res, err)
	}

	writeFile(t, path, `{"writtenAt":"2026-05-20T12:00:00.123456789Z","entries":[
		{"public_key":"AA11","status":"confirmed","evidence":"advert"},
		{"public_key":"bb22","status":"suspected","evidence":"path"},
		{"public_key":"cc33","status":"unknown"},
		{"public_key":"dd44","status":"suspected","evidence":""},
		{"public_key":"ee55","status":"confirmed","evidence":"advert"}]}`)

	// A dry run counts and changes nothing.
	res, err = job.Run(ctx, true)
	if err != nil || res.Rows != 3 {
		t.Fatalf("dry run: %+v, %v; want 3 rows", res, err)
	}
	if sup, _ := mbcap(t, db, "nodes", "aa11"); sup != 0 {
		t.Fatalf("dry run wrote multibyte_sup = %d", sup)
	}

	res, err = job.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 3 || !strings.Contains(res.Detail, "active=2 inactive=1") || !strings.Contains(res.Detail, "unknown_nodes=1") {
		t.Errorf("result = %+v, want 3 rows: 2 active, 1 inactive, 1 unknown node", res)
	}
	for _, c := range []struct {
		table, key string
		sup        int64
		ev         string
	}{
		{"nodes", "aa11", 2, "advert"},
		{"inactive_nodes", "bb22", 1, "path"},
		{"nodes", "cc33", 2, "advert"}, // unknown never overwrites
		{"nodes", "dd44", 1, ""},       // suspected downgrades confirmed, as in CoreScope
	} {
		if sup, ev := mbcap(t, db, c.table, c.key); sup != c.sup || ev != c.ev {
			t.Errorf("%s %s = (%d, %q), want (%d, %q)", c.table, c.key, sup, ev, c.sup, c.ev)
		}
	}

	// The same snapshot again is skipped; a new one with the same content
	// changes nothing (idempotent).
	if res, err = job.Run(ctx, false); err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "unchanged since") {
		t.Errorf("same snapshot again: %+v, %v; want skipped", res, err)
	}
	b, _ := os.ReadFile(path)
	writeFile(t, path, strings.Replace(string(b), "12:00:00.123456789Z", "12:05:00Z", 1))
	if res, err = (&maintenance.MultibyteSnapshot{DB: db, Path: path}).Run(ctx, false); err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "unchanged=3") {
		t.Errorf("re-applied snapshot: %+v, %v; want 0 rows changed, 3 unchanged", res, err)
	}

	// Malformed: the run fails (logged and counted by the scheduler), the
	// database is untouched, and nothing panics.
	writeFile(t, path, `{"writtenAt": "x", "entries": [`)
	res, err = job.Run(ctx, false)
	if !errors.Is(err, maintenance.ErrMalformedSnapshot) || res.Rows != 0 {
		t.Errorf("malformed: %+v, %v; want ErrMalformedSnapshot", res, err)
	}
	if sup, _ := mbcap(t, db, "nodes", "aa11"); sup != 2 {
		t.Errorf("after a malformed snapshot multibyte_sup = %d, want 2 kept", sup)
	}
}

func readResult(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n  \"") {
		t.Errorf("%s is not indented JSON: %s", path, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func TestPruneRequestEndToEnd(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	exec(t, db,
		`INSERT INTO nodes (public_key, name) VALUES ('aa11', 'outside'), ('bb22', 'inside'), ('cc33', 'outside too')`,
		`INSERT INTO inactive_nodes (public_key, name) VALUES ('cc33', 'kept')`,
	)
	dir := filepath.Join(filepath.Dir(db.Path()), maintenance.PruneRequestsDir)
	job := &maintenance.PruneRequests{DB: db, Dir: dir, Now: clock}

	// No directory yet: nothing to do.
	if res, err := job.Run(ctx, false); err != nil || res.Rows != 0 {
		t.Fatalf("empty queue: %+v, %v", res, err)
	}

	req := filepath.Join(dir, "request-abc123.json")
	writeFile(t, req, `{"id":"abc123","requestedAt":"2026-05-20T11:59:00Z","reason":"geo filter","pubkeys":["aa11","CC33","doesnotexist","aa11"]}`)

	res, err := job.Run(ctx, true)
	if err != nil || res.Rows != 2 || !exists(req) {
		t.Fatalf("dry run: %+v, %v, request kept %v; want 2 rows and the request kept", res, err, exists(req))
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 3 {
		t.Fatalf("dry run deleted nodes: %d left", n)
	}

	res, err = job.Run(ctx, false)
	if err != nil || res.Rows != 2 {
		t.Fatalf("run: %+v, %v; want 2 nodes deleted", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes WHERE public_key = 'bb22'`); n != 1 {
		t.Error("node bb22 (not listed) was deleted")
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 1 {
		t.Errorf("nodes left = %d, want 1", n)
	}
	if n := count(t, db, `SELECT count(*) FROM inactive_nodes`); n != 1 {
		t.Errorf("inactive_nodes = %d, want 1 (only nodes are pruned)", n)
	}
	if exists(req) {
		t.Error("request file not removed")
	}
	r := readResult(t, filepath.Join(dir, "result-abc123.json"))
	if r["id"] != "abc123" || r["requestedAt"] != "2026-05-20T11:59:00Z" || r["completedAt"] != "2026-05-20T12:00:00Z" || r["deleted"] != 2.0 {
		t.Errorf("result = %v", r)
	}
	if _, ok := r["error"]; ok {
		t.Errorf("result has an error: %v", r)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("queue dir holds %d files, want only the result (no temporary file left)", len(entries))
	}
}

func TestPruneRequestRejected(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	exec(t, db, `INSERT INTO nodes (public_key) VALUES ('aa11')`)
	dir := filepath.Join(filepath.Dir(db.Path()), maintenance.PruneRequestsDir)
	job := &maintenance.PruneRequests{DB: db, Dir: dir, Now: clock}

	badID := filepath.Join(dir, "request-not-hex!.json")
	writeFile(t, badID, `{"id":"not-hex!","requestedAt":"2026-05-20T11:59:00Z","pubkeys":["aa11"]}`)
	garbled := filepath.Join(dir, "request-dead01.json")
	writeFile(t, garbled, `{"id":"dead01","pubkeys":`)
	good := filepath.Join(dir, "request-ff.json")
	writeFile(t, good, `{"id":"ff","requestedAt":"2026-05-20T11:59:00Z","pubkeys":[]}`)

	res, err := job.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Detail, "requests=1 rejected=2") {
		t.Errorf("detail = %q, want 1 request done, 2 rejected", res.Detail)
	}
	// An invalid id can never get a result: moved aside, not retried.
	if exists(badID) || !exists(filepath.Join(dir, "rejected-request-not-hex!.json")) {
		t.Error("request with an invalid id not moved aside")
	}
	// An unparsable request whose file name has a valid id gets an error
	// result, so the server's status poll ends.
	if exists(garbled) {
		t.Error("unparsable request not removed")
	}
	if r := readResult(t, filepath.Join(dir, "result-dead01.json")); r["deleted"] != 0.0 || !strings.HasPrefix(r["error"].(string), "rejected: ") {
		t.Errorf("error result = %v", r)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != 1 {
		t.Errorf("a rejected request deleted nodes: %d left", n)
	}
	// Nothing is retried: the next run has nothing to do.
	if res, err := job.Run(ctx, false); err != nil || res.Detail != "requests=0 rejected=0 deleted=0" {
		t.Errorf("second run: %+v, %v", res, err)
	}
}

func TestObserverBlacklist(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	exec(t, db,
		`INSERT INTO observers (id, name, inactive) VALUES ('BadObs', 'bad', 0), ('good', 'good', 0), ('gone', 'x', 1)`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('BadObs', '2026-05-20T11:00:00Z')`,
	)
	job := &maintenance.ObserverBlacklist{DB: db, IDs: []string{" BADOBS ", "", "GONE"}}
	if res, err := job.Run(ctx, true); err != nil || res.Rows != 1 {
		t.Fatalf("dry run: %+v, %v; want 1", res, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 1 {
		t.Fatalf("run: %+v, %v; want 1 observer soft-deleted", res, err)
	}
	if n := count(t, db, `SELECT inactive FROM observers WHERE id = 'BadObs'`); n != 1 {
		t.Errorf("BadObs inactive = %d, want 1", n)
	}
	if n := count(t, db, `SELECT inactive FROM observers WHERE id = 'good'`); n != 0 {
		t.Errorf("good inactive = %d, want 0", n)
	}
	if n := count(t, db, `SELECT count(*) FROM observer_metrics WHERE observer_id = 'BadObs'`); n != 1 {
		t.Errorf("metrics of the blacklisted observer deleted")
	}
	if res, err := (&maintenance.ObserverBlacklist{DB: db}).Run(ctx, false); err != nil || res.Rows != 0 {
		t.Errorf("empty blacklist: %+v, %v", res, err)
	}
}

func TestPruneClientReceptions(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	row := `INSERT INTO client_receptions (rx_pubkey, heard_key, heard_keylen, lat, lon, rx_at, ingested_at, src)
    VALUES ('aa', '%s', 2, 1, 2, '%s', '%s', 'rxlog')`
	exec(t, db,
		fmt.Sprintf(row, "b1", "2026-05-01T12:00:00Z", "2026-05-01T12:00:00Z"),   // 19 days old
		fmt.Sprintf(row, "b2", "2026-05-12T11:59:59.5Z", "2026-05-12T12:00:00Z"), // just over 8 days
		fmt.Sprintf(row, "b3", "2026-05-12T12:00:00Z", "2026-05-12T12:00:00Z"),   // exactly 8 days: kept
		fmt.Sprintf(row, "b4", "2026-05-20T11:00:00Z", "2026-05-20T11:00:00Z"),   // fresh
		`INSERT INTO client_observers (pubkey, name, last_seen) VALUES ('old', 'o', '2026-05-01T00:00:00Z'), ('new', 'n', '2026-05-20T11:00:00Z')`,
	)
	off := &maintenance.PruneClientReceptions{DB: db, Now: clock}
	if res, err := off.Run(ctx, false); err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "disabled") {
		t.Errorf("days 0: %+v, %v; want disabled", res, err)
	}
	job := &maintenance.PruneClientReceptions{DB: db, Days: 8, Now: clock, Chunking: maintenance.Chunking{Rows: 1}}
	if res, err := job.Run(ctx, true); err != nil || res.Rows != 3 {
		t.Fatalf("dry run: %+v, %v; want 3", res, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 3 {
		t.Fatalf("run: %+v, %v; want 2 receptions + 1 client observer", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM client_receptions WHERE heard_key IN ('b3', 'b4')`); n != 2 {
		t.Errorf("kept receptions = %d, want 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM client_receptions`); n != 2 {
		t.Errorf("receptions = %d, want 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM client_observers WHERE pubkey = 'new'`); n != 1 {
		t.Error("fresh client observer deleted")
	}
}
