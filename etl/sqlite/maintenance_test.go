package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// Helpers of the maintenance tests are prefixed mt.

// mtExec runs statements in one write transaction.
func mtExec(t testing.TB, db *DB, stmts ...string) {
	t.Helper()
	err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mtInt(t testing.TB, db *DB, q string, args ...any) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

func mtStrings(t testing.TB, db *DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Reader().Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// mtFKClean fails the test if a foreign key is dangling.
func mtFKClean(t testing.TB, db *DB) {
	t.Helper()
	rows, err := db.Reader().Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("foreign_key_check reports dangling references")
	}
}

// mtTx inserts a transmission with id and first_seen, and obs observations.
func mtTx(id int, firstSeen string, obs int) []string {
	s := []string{fmt.Sprintf(`INSERT INTO transmissions (id, raw_hex, hash, first_seen) VALUES (%d, 'AA', 'h%015d', '%s')`, id, id, firstSeen)}
	for o := range obs {
		s = append(s, fmt.Sprintf(`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp) VALUES (%d, %d, '[]', 0)`, id, o+1))
	}
	return s
}

var mtCutoff = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

func TestPruneTransmissionsBoundaryAndFormats(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	cases := []struct {
		id        int
		firstSeen string
		obs       int
		pruned    bool
	}{
		{1, "2026-03-20T09:06:21.535Z", 2, true}, // Node.js era, milliseconds
		{2, "2026-05-10T11:59:59Z", 3, true},
		{3, "2026-05-10T11:59:59.999Z", 1, true},
		{4, "2026-05-10T12:00:00Z", 2, false}, // exactly the cutoff: not older
		{5, "2026-05-10T12:00:00.001Z", 1, false},
		{6, "2026-05-10T12:00:00.500Z", 0, false}, // "…:00.5Z" < "…:00Z" as text: a naive compare prunes it
		{7, "2026-05-10T12:00:01Z", 1, false},
		{8, "2026-05-11T00:00:00Z", 2, false},
		{9, "2026-05-09T23:59:59Z", 0, true}, // no observations
	}
	var stmts []string
	var wantTx, wantObs int64
	for _, c := range cases {
		stmts = append(stmts, mtTx(c.id, c.firstSeen, c.obs)...)
		if c.pruned {
			wantTx++
			wantObs += int64(c.obs)
		}
	}
	mtExec(t, db, stmts...)

	tx, obs, more, err := db.PruneTransmissionsChunk(ctx, mtCutoff, 1000, true)
	if err != nil || tx != wantTx || obs != wantObs || more {
		t.Fatalf("dry run = %d, %d, %v, %v; want %d, %d, false", tx, obs, more, err, wantTx, wantObs)
	}
	if n := mtInt(t, db, "SELECT count(*) FROM transmissions"); n != int64(len(cases)) {
		t.Fatalf("dry run deleted rows: %d left", n)
	}

	tx, obs, more, err = db.PruneTransmissionsChunk(ctx, mtCutoff, 1000, false)
	if err != nil || tx != wantTx || obs != wantObs || more {
		t.Fatalf("prune = %d, %d, %v, %v; want %d, %d, false", tx, obs, more, err, wantTx, wantObs)
	}
	for _, c := range cases {
		left := mtInt(t, db, "SELECT count(*) FROM transmissions WHERE id = ?", c.id)
		leftObs := mtInt(t, db, "SELECT count(*) FROM observations WHERE transmission_id = ?", c.id)
		if c.pruned && (left != 0 || leftObs != 0) {
			t.Errorf("%s: kept (tx %d, obs %d), want pruned", c.firstSeen, left, leftObs)
		}
		if !c.pruned && (left != 1 || leftObs != int64(c.obs)) {
			t.Errorf("%s: tx %d obs %d, want kept with %d observations", c.firstSeen, left, leftObs, c.obs)
		}
	}
	mtFKClean(t, db)

	tx, obs, more, err = db.PruneTransmissionsChunk(ctx, mtCutoff, 1000, false)
	if err != nil || tx != 0 || obs != 0 || more {
		t.Fatalf("second prune = %d, %d, %v, %v; want nothing", tx, obs, more, err)
	}
}

func TestPruneTransmissionsChunksEqualOnePass(t *testing.T) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	var stmts []string
	for id := 1; id <= 600; id++ {
		at := mtCutoff.Add(time.Duration(rnd.Int64N(int64(48*time.Hour))) - 24*time.Hour)
		fs := at.Format(time.RFC3339)
		if id%3 == 0 {
			fs = at.Format("2006-01-02T15:04:05.000Z")
		}
		stmts = append(stmts, mtTx(id, fs, rnd.IntN(4))...)
	}
	one, chunked := openTest(t), openTest(t)
	mtExec(t, one, stmts...)
	mtExec(t, chunked, stmts...)

	tx1, obs1, more, err := one.PruneTransmissionsChunk(ctx, mtCutoff, 1_000_000, false)
	if err != nil || more || tx1 == 0 {
		t.Fatalf("one pass: %d, %v, %v", tx1, more, err)
	}
	var tx2, obs2 int64
	chunks := 0
	for more = true; more; chunks++ {
		var tx, obs int64
		tx, obs, more, err = chunked.PruneTransmissionsChunk(ctx, mtCutoff, 7, false)
		if err != nil {
			t.Fatal(err)
		}
		if tx > 7 {
			t.Fatalf("chunk deleted %d transmissions, limit 7", tx)
		}
		tx2, obs2 = tx2+tx, obs2+obs
	}
	if tx1 != tx2 || obs1 != obs2 || chunks < int(tx1/7) {
		t.Fatalf("one pass %d/%d, chunked %d/%d in %d chunks", tx1, obs1, tx2, obs2, chunks)
	}
	for _, q := range []string{
		"SELECT id FROM transmissions ORDER BY id",
		"SELECT id FROM observations ORDER BY id",
	} {
		if a, b := mtStrings(t, one, q), mtStrings(t, chunked, q); !slices.Equal(a, b) {
			t.Errorf("%s differs: %d vs %d rows", q, len(a), len(b))
		}
	}
	mtFKClean(t, chunked)
}

func TestPruneTransmissionsFixture(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, copyFixture(t))
	cut := time.Date(2026, 5, 17, 17, 0, 0, 0, time.UTC)
	wantLeft := mtInt(t, db, "SELECT count(*) FROM transmissions WHERE first_seen >= '2026-05-17T17:00:00Z'")
	wantObs := mtInt(t, db, `SELECT count(*) FROM observations WHERE transmission_id IN
        (SELECT id FROM transmissions WHERE first_seen >= '2026-05-17T17:00:00Z')`)
	total := mtInt(t, db, "SELECT count(*) FROM transmissions")
	if wantLeft == 0 || wantLeft == total {
		t.Fatalf("fixture cutoff does not split the data: %d of %d", wantLeft, total)
	}
	var sum int64
	for more := true; more; {
		tx, _, m, err := db.PruneTransmissionsChunk(ctx, cut, 25, false)
		if err != nil {
			t.Fatal(err)
		}
		sum, more = sum+tx, m
	}
	if sum != total-wantLeft {
		t.Errorf("pruned %d, want %d", sum, total-wantLeft)
	}
	if n := mtInt(t, db, "SELECT count(*) FROM transmissions"); n != wantLeft {
		t.Errorf("%d transmissions left, want %d", n, wantLeft)
	}
	if n := mtInt(t, db, "SELECT count(*) FROM observations"); n != wantObs {
		t.Errorf("%d observations left, want %d", n, wantObs)
	}
	mtFKClean(t, db)
}

func TestPruneObserverMetricsAndDroppedPackets(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	metrics := map[string]bool{ // timestamp → pruned
		"2026-04-01T00:00:00Z":     true,
		"2026-05-10T11:55:00Z":     true,
		"2026-05-10T11:59:59.5Z":   true,
		"2026-05-10T12:00:00Z":     false,
		"2026-05-10T12:00:00.250Z": false,
		"2026-05-10T12:05:00Z":     false,
	}
	dropped := map[string]bool{ // dropped_at → pruned
		"2026-05-09 23:59:59": true,
		"2026-05-10 00:00:01": true,
		"2026-05-10 11:59:59": true,
		"2026-05-10 12:00:00": false,
		"2026-05-10 12:00:01": false,
		// The reference compared this with "2026-05-10T12:00:00Z": ' ' sorts
		// before 'T', so it was deleted eleven hours early (spec §9 #13).
		"2026-05-10 23:00:00": false,
		"2026-05-11 00:00:00": false,
	}
	var stmts []string
	for ts := range metrics {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO observer_metrics (observer_id, timestamp, noise_floor) VALUES ('OBS', '%s', -110)`, ts))
	}
	for at := range dropped {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO dropped_packets (hash, reason, dropped_at) VALUES ('h', 'invalid signature', '%s')`, at))
	}
	mtExec(t, db, stmts...)

	n, more, err := db.PruneObserverMetricsChunk(ctx, mtCutoff, 100, true)
	if err != nil || n != 3 || more {
		t.Fatalf("metrics dry run = %d, %v, %v; want 3", n, more, err)
	}
	n, more, err = db.PruneObserverMetricsChunk(ctx, mtCutoff, 2, false)
	if err != nil || n != 2 || !more {
		t.Fatalf("metrics chunk = %d, %v, %v; want 2, more", n, more, err)
	}
	n, more, err = db.PruneObserverMetricsChunk(ctx, mtCutoff, 2, false)
	if err != nil || n != 1 || more {
		t.Fatalf("metrics chunk = %d, %v, %v; want 1, no more", n, more, err)
	}
	for ts, pruned := range metrics {
		if got := mtInt(t, db, "SELECT count(*) FROM observer_metrics WHERE timestamp = ?", ts); (got == 0) != pruned {
			t.Errorf("observer_metrics %s: %d rows left, pruned=%v", ts, got, pruned)
		}
	}

	n, _, err = db.PruneDroppedPacketsChunk(ctx, mtCutoff, 100, true)
	if err != nil || n != 3 {
		t.Fatalf("dropped dry run = %d, %v; want 3", n, err)
	}
	n, more, err = db.PruneDroppedPacketsChunk(ctx, mtCutoff, 100, false)
	if err != nil || n != 3 || more {
		t.Fatalf("dropped = %d, %v, %v; want 3", n, more, err)
	}
	for at, pruned := range dropped {
		if got := mtInt(t, db, "SELECT count(*) FROM dropped_packets WHERE dropped_at = ?", at); (got == 0) != pruned {
			t.Errorf("dropped_packets %s: %d rows left, pruned=%v", at, got, pruned)
		}
	}
}

func TestMarkObserversInactiveKeepsMetrics(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mtExec(t, db,
		`INSERT INTO observers (id, last_seen) VALUES ('OLD1', '2026-05-01T00:00:00Z')`,
		`INSERT INTO observers (id, last_seen) VALUES ('OLD2', '2026-05-10T11:59:59Z')`,
		`INSERT INTO observers (id, last_seen, inactive) VALUES ('GONE', '2026-04-01T00:00:00Z', 1)`,
		`INSERT INTO observers (id, last_seen) VALUES ('EDGE', '2026-05-10T12:00:00Z')`,
		`INSERT INTO observers (id, last_seen) VALUES ('NEW', '2026-05-12T00:00:00Z')`,
		`INSERT INTO observers (id, last_seen) VALUES ('NULL', NULL)`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('OLD1', '2026-05-01T00:00:00Z')`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('GONE', '2026-04-01T00:00:00Z')`,
	)
	n, _, err := db.MarkObserversInactiveChunk(ctx, mtCutoff, 10, true)
	if err != nil || n != 2 {
		t.Fatalf("dry run = %d, %v; want 2", n, err)
	}
	if got := mtInt(t, db, "SELECT count(*) FROM observers WHERE inactive = 1"); got != 1 {
		t.Fatalf("dry run wrote: %d inactive", got)
	}
	var total int64
	for more := true; more; {
		var c int64
		c, more, err = db.MarkObserversInactiveChunk(ctx, mtCutoff, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		total += c
	}
	if total != 2 {
		t.Errorf("marked %d, want 2", total)
	}
	got := mtStrings(t, db, "SELECT id FROM observers WHERE inactive = 1 ORDER BY id")
	if !slices.Equal(got, []string{"GONE", "OLD1", "OLD2"}) {
		t.Errorf("inactive observers = %v", got)
	}
	if n := mtInt(t, db, "SELECT count(*) FROM observer_metrics"); n != 2 {
		t.Errorf("observer_metrics rows = %d, want both kept (spec §9 #27)", n)
	}
}

func TestMoveStaleNodes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mtExec(t, db,
		`INSERT INTO nodes (public_key, name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert)
            VALUES ('aa', 'Alpha', 'repeater', 1.5, 2.5, '2026-05-01T00:00:00Z', '2026-01-01T00:00:00Z', 7, 3700, 21.5, 1)`,
		`INSERT INTO nodes (public_key, name, last_seen) VALUES ('bb', 'Bravo', '2026-05-10T11:59:59.900Z')`,
		`INSERT INTO nodes (public_key, name, last_seen) VALUES ('cc', 'Charlie', '2026-05-10T12:00:00Z')`,
		`INSERT INTO nodes (public_key, name, last_seen) VALUES ('dd', 'Delta', NULL)`,
		`INSERT INTO nodes (public_key, name, last_seen) VALUES ('ee', 'Echo', '2026-05-09T00:00:00Z')`,
		// A stale copy from an earlier move is replaced.
		`INSERT INTO inactive_nodes (public_key, name, last_seen, advert_count) VALUES ('aa', 'Old Alpha', '2025-01-01T00:00:00Z', 1)`,
	)
	n, _, err := db.MoveStaleNodesChunk(ctx, mtCutoff, 100, true)
	if err != nil || n != 3 {
		t.Fatalf("dry run = %d, %v; want 3", n, err)
	}
	var total int64
	chunks := 0
	for more := true; more; chunks++ {
		var c int64
		c, more, err = db.MoveStaleNodesChunk(ctx, mtCutoff, 2, false)
		if err != nil {
			t.Fatal(err)
		}
		total += c
	}
	if total != 3 || chunks != 2 {
		t.Errorf("moved %d in %d chunks, want 3 in 2", total, chunks)
	}
	if got := mtStrings(t, db, "SELECT public_key FROM nodes ORDER BY public_key"); !slices.Equal(got, []string{"cc", "dd"}) {
		t.Errorf("nodes left = %v", got)
	}
	if got := mtStrings(t, db, "SELECT public_key FROM inactive_nodes ORDER BY public_key"); !slices.Equal(got, []string{"aa", "bb", "ee"}) {
		t.Errorf("inactive_nodes = %v", got)
	}
	var (
		name, role, last, first string
		lat, lon, temp          float64
		adverts, batt, foreign  int64
	)
	err = db.Reader().QueryRow(`SELECT name, role, lat, lon, last_seen, first_seen, advert_count, battery_mv, temperature_c, foreign_advert
        FROM inactive_nodes WHERE public_key = 'aa'`).Scan(&name, &role, &lat, &lon, &last, &first, &adverts, &batt, &temp, &foreign)
	if err != nil {
		t.Fatal(err)
	}
	if name != "Alpha" || role != "repeater" || lat != 1.5 || lon != 2.5 || last != "2026-05-01T00:00:00Z" ||
		first != "2026-01-01T00:00:00Z" || adverts != 7 || batt != 3700 || temp != 21.5 || foreign != 1 {
		t.Errorf("copied row = %q %q %v %v %q %q %d %d %v %d", name, role, lat, lon, last, first, adverts, batt, temp, foreign)
	}
}

// TestNodeColumnsCoverTheTable fails when nodes or inactive_nodes gain a
// column that MoveStaleNodesChunk would not copy.
func TestNodeColumnsCoverTheTable(t *testing.T) {
	for _, path := range []string{"", copyFixture(t)} {
		var db *DB
		if path == "" {
			db = openTest(t)
		} else {
			db = openMigrated(t, path)
		}
		var want []string
		for _, c := range strings.Split(nodeColumns, ",") {
			want = append(want, strings.TrimSpace(c))
		}
		for _, table := range []string{"nodes", "inactive_nodes"} {
			got := mtStrings(t, db, "SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
			if !slices.Equal(got, want) {
				t.Errorf("%s columns %v, nodeColumns %v", table, got, want)
			}
		}
	}
}

// mtFillAndDelete inserts rows with big payloads and deletes them, leaving
// free pages, and returns freelist_count.
func mtFillAndDelete(t testing.TB, db *DB, n int) int64 {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	for id := 1; id <= n; id++ {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO transmissions (id, raw_hex, hash, first_seen, decoded_json)
            VALUES (%d, 'AA', 'f%015d', '2020-01-01T00:00:00Z', printf('%%.3000c', 'x'))`, 1_000_000+id, id))
	}
	mtExec(t, db, stmts...)
	for more := true; more; {
		var err error
		_, _, more, err = db.PruneTransmissionsChunk(ctx, mtCutoff, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
	}
	free, err := db.FreelistCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return free
}

func TestIncrementalVacuumFreesPages(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if mode, _ := db.AutoVacuumMode(ctx); mode != 2 {
		t.Fatalf("new file auto_vacuum = %d, want 2", mode)
	}
	free := mtFillAndDelete(t, db, 400)
	if free < 100 {
		t.Fatalf("freelist_count = %d after deleting, want many pages", free)
	}
	pagesBefore := mtInt(t, db, "PRAGMA page_count")
	freed, left, err := db.IncrementalVacuumChunk(ctx, 10)
	if err != nil || freed != 10 || left != free-10 {
		t.Fatalf("vacuum(10) = %d, %d, %v; want 10 freed, %d left (one Exec step would free 1)", freed, left, err, free-10)
	}
	freed, left, err = db.IncrementalVacuumChunk(ctx, int(free)+50)
	if err != nil || freed != free-10 || left != 0 {
		t.Fatalf("vacuum(all) = %d, %d, %v; want %d freed, 0 left", freed, left, err, free-10)
	}
	if n, _ := db.FreelistCount(ctx); n != 0 {
		t.Errorf("freelist_count = %d, want 0", n)
	}
	if after := mtInt(t, db, "PRAGMA page_count"); after != pagesBefore-free {
		t.Errorf("page_count %d → %d, want %d", pagesBefore, after, pagesBefore-free)
	}
	if _, _, err := db.IncrementalVacuumChunk(ctx, 0); err == nil {
		t.Error("vacuum(0) accepted; it would free the whole freelist")
	}
}

func TestIncrementalVacuumNoopWithoutAutoVacuum(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, copyFixture(t))
	if mode, _ := db.AutoVacuumMode(ctx); mode != 0 {
		t.Fatalf("fixture auto_vacuum = %d, want 0", mode)
	}
	free := mtFillAndDelete(t, db, 100)
	freed, left, err := db.IncrementalVacuumChunk(ctx, 1000)
	if err != nil || freed != 0 || left != free {
		t.Fatalf("vacuum on auto_vacuum=NONE = %d, %d, %v; want nothing freed", freed, left, err)
	}
}

func TestFullVacuumSwitchesToIncrementalAndKeepsObserverRowids(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, copyFixture(t))
	// Gaps in observers' implicit rowids, which observations.observer_idx
	// refers to: VACUUM must not renumber them (spec §9 #30).
	mtExec(t, db, `DELETE FROM observers WHERE rowid IN (SELECT rowid FROM observers ORDER BY rowid LIMIT 3 OFFSET 2)`)
	before := mtStrings(t, db, "SELECT rowid || '=' || id FROM observers ORDER BY rowid")
	free := mtFillAndDelete(t, db, 50)
	if free == 0 {
		t.Fatal("no free pages")
	}
	// Every pooled reader reads the header (mode 0) before the VACUUM.
	var conns []*sql.Conn
	for range DefaultReadConns {
		c, err := db.Reader().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var mode int
		if err := c.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != 0 {
			t.Fatalf("reader auto_vacuum = %d, %v", mode, err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if err := db.FullVacuum(ctx); err != nil {
		t.Fatal(err)
	}
	// Every pooled reader sees the new mode, including those that read the
	// header before the VACUUM.
	if mode, _ := db.AutoVacuumMode(ctx); mode != 2 {
		t.Logf("note: AutoVacuumMode (a bare PRAGMA on a pooled reader) still says %d", mode)
	}
	for range 2 * DefaultReadConns {
		if mode, err := db.AutoVacuumMode(ctx); mode != 2 {
			t.Fatalf("auto_vacuum = %d, %v after FullVacuum, want 2", mode, err)
		}
	}
	if n, _ := db.FreelistCount(ctx); n != 0 {
		t.Errorf("freelist_count = %d after VACUUM", n)
	}
	if after := mtStrings(t, db, "SELECT rowid || '=' || id FROM observers ORDER BY rowid"); !slices.Equal(before, after) {
		t.Errorf("observer rowids changed:\n%v\n%v", before, after)
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The mode is in the file: reopen and check.
	db2 := openMigrated(t, path)
	if mode, _ := db2.AutoVacuumMode(ctx); mode != 2 {
		t.Errorf("reopened auto_vacuum = %d, want 2", mode)
	}
	if jm := mtStrings(t, db2, "PRAGMA journal_mode"); !slices.Equal(jm, []string{"wal"}) {
		t.Errorf("journal_mode = %v", jm)
	}
}

func TestCheckpointTruncate(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var stmts []string
	for id := 1; id <= 200; id++ {
		stmts = append(stmts, mtTx(id, "2026-05-17T00:00:00Z", 1)...)
	}
	mtExec(t, db, stmts...)
	busy, log, done, err := db.CheckpointTruncate(ctx)
	if err != nil || busy || log != done {
		t.Fatalf("checkpoint = busy %v, log %d, checkpointed %d, %v", busy, log, done, err)
	}
	st, err := os.Stat(db.Path() + "-wal")
	if err != nil || st.Size() != 0 {
		t.Fatalf("wal after TRUNCATE: %v, %v", st, err)
	}
}
