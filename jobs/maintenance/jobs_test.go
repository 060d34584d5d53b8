package maintenance_test

// These tests run each job on real SQLite files through *sqlite.DB, the
// database the daemon uses.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/sqlite/sqlitetest"
	"github.com/corescope/etl/jobs/maintenance"
)

// now is the fixed clock of these tests.
var now = time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func newDB(t testing.TB) *sqlite.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "corescope.db"))
}

func fixture(t testing.TB) *sqlite.DB {
	t.Helper()
	return open(t, sqlitetest.CopyFixture(t))
}

func exec(t testing.TB, db *sqlite.DB, stmts ...string) {
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

func count(t testing.TB, db *sqlite.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func fkClean(t testing.TB, db *sqlite.DB) {
	t.Helper()
	rows, err := db.Reader().Query("PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("dangling foreign keys")
	}
}

// ago formats now minus d in RFC 3339, with milliseconds if ms.
func ago(d time.Duration, ms bool) string {
	if ms {
		return now.Add(-d).Format("2006-01-02T15:04:05.000Z")
	}
	return now.Add(-d).Format(time.RFC3339)
}

const day = 24 * time.Hour

// packets inserts n transmissions first seen at firstSeen(i), each with
// i%4 observations, with ids from base+1.
func packets(t testing.TB, db *sqlite.DB, base, n int, firstSeen func(i int) string) {
	t.Helper()
	var stmts []string
	for i := range n {
		id := base + i + 1
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO transmissions (id, raw_hex, hash, first_seen) VALUES (%d, 'AA', 'p%015d', '%s')`, id, id, firstSeen(i)))
		for o := range i % 4 {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp) VALUES (%d, %d, '[]', 0)`, id, o+1))
		}
	}
	exec(t, db, stmts...)
}

func TestPrunePacketsOnFixture(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	fixtureTx := count(t, db, "SELECT count(*) FROM transmissions")
	fixtureObs := count(t, db, "SELECT count(*) FROM observations")
	// 90 old packets (alternating formats, ending 1s before the cutoff) and
	// 30 at or after it (the first one with milliseconds in the cutoff second).
	packets(t, db, 100000, 90, func(i int) string { return ago(30*day+time.Duration(90-i)*time.Second, i%2 == 0) })
	packets(t, db, 200000, 30, func(i int) string {
		if i == 0 {
			return now.Add(-30 * day).Add(250 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		}
		return ago(30*day-time.Duration(i)*time.Second, i%2 == 0)
	})
	oldObs := count(t, db, "SELECT count(*) FROM observations WHERE transmission_id BETWEEN 100001 AND 100090")

	job := &maintenance.PrunePackets{DB: db, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 7}}
	dry, err := job.Run(ctx, true)
	if err != nil || dry.Rows != 90+oldObs {
		t.Fatalf("dry run = %+v, %v; want %d rows", dry, err, 90+oldObs)
	}
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != fixtureTx+120 {
		t.Fatalf("dry run deleted: %d", n)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != dry.Rows {
		t.Fatalf("run = %+v, %v; want %d rows", res, err, dry.Rows)
	}
	if !strings.Contains(res.Detail, "transmissions=90 ") || !strings.Contains(res.Detail, "chunks=13 ") {
		t.Errorf("detail = %q, want 90 transmissions in 13 chunks of 7", res.Detail)
	}
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != fixtureTx+30 {
		t.Errorf("transmissions = %d, want the fixture's %d + 30", n, fixtureTx)
	}
	if n := count(t, db, "SELECT count(*) FROM observations"); n != fixtureObs+count(t, db, "SELECT count(*) FROM observations WHERE transmission_id > 200000") {
		t.Errorf("observations = %d", n)
	}
	fkClean(t, db)
	if res, err := job.Run(ctx, false); err != nil || res.Rows != 0 {
		t.Errorf("second run = %+v, %v; want nothing to do", res, err)
	}
	off := &maintenance.PrunePackets{DB: db, Days: 0, Now: clock}
	if res, err := off.Run(ctx, false); err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "disabled") {
		t.Errorf("days=0: %+v, %v", res, err)
	}
}

func TestPrunePacketsChunkedEqualsOnePass(t *testing.T) {
	ctx := context.Background()
	fill := func(db *sqlite.DB) {
		packets(t, db, 0, 500, func(i int) string {
			return ago(time.Duration(i)*7*time.Hour+time.Duration(i)*time.Millisecond, i%3 == 0)
		})
	}
	one, many := newDB(t), newDB(t)
	fill(one)
	fill(many)
	r1, err := (&maintenance.PrunePackets{DB: one, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 1_000_000}}).Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := (&maintenance.PrunePackets{DB: many, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 3}}).Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Rows != r2.Rows || r1.Rows == 0 {
		t.Fatalf("one pass %d rows, chunked %d", r1.Rows, r2.Rows)
	}
	for _, q := range []string{"SELECT group_concat(id) FROM transmissions", "SELECT group_concat(id) FROM observations"} {
		var a, b sql.NullString
		one.Reader().QueryRow(q).Scan(&a)
		many.Reader().QueryRow(q).Scan(&b)
		if a != b {
			t.Errorf("%s differs", q)
		}
	}
}

// cancelAfter returns a Chunking.OnChunk that cancels a job's context
// after n chunks, as a shutdown or timeout would.
func cancelAfter(n int, cancel context.CancelFunc) func(int, time.Duration) {
	return func(int, time.Duration) {
		if n--; n == 0 {
			cancel()
		}
	}
}

func TestPrunePacketsInterruptedResumes(t *testing.T) {
	db := newDB(t)
	packets(t, db, 0, 100, func(i int) string { return ago(40*day, false) })
	ctx, cancel := context.WithCancel(context.Background())
	job := &maintenance.PrunePackets{DB: db, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 10, OnChunk: cancelAfter(3, cancel)}}
	res, err := job.Run(ctx, false)
	if err != context.Canceled && !strings.Contains(fmt.Sprint(err), "context canceled") {
		t.Fatalf("interrupted run: %v", err)
	}
	if !strings.Contains(res.Detail, "transmissions=30 ") {
		t.Errorf("interrupted run detail = %q, want 3 chunks of 10", res.Detail)
	}
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 70 {
		t.Errorf("after interruption %d transmissions, want 70", n)
	}
	fkClean(t, db)
	job = &maintenance.PrunePackets{DB: db, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 10}}
	if res, err := job.Run(context.Background(), false); err != nil || !strings.Contains(res.Detail, "transmissions=70 ") {
		t.Fatalf("resumed run = %+v, %v", res, err)
	}
	if n := count(t, db, "SELECT count(*) FROM transmissions"); n != 0 {
		t.Errorf("after resuming %d transmissions left", n)
	}
}

func TestPruneMetrics(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	dt := func(d time.Duration) string { return now.Add(-d).Format(time.DateTime) }
	exec(t, db,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('A', '`+ago(31*day, false)+`')`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('A', '`+ago(30*day+time.Second, false)+`')`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('A', '`+ago(30*day, false)+`')`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('A', '`+ago(day, false)+`')`,
		`INSERT INTO dropped_packets (reason, dropped_at) VALUES ('invalid signature', '`+dt(30*day+time.Second)+`')`,
		`INSERT INTO dropped_packets (reason, dropped_at) VALUES ('invalid signature', '`+dt(30*day)+`')`,
		// Later on the cutoff date: the reference deleted it (spec §9 #13).
		`INSERT INTO dropped_packets (reason, dropped_at) VALUES ('invalid signature', '`+dt(30*day-10*time.Hour)+`')`,
	)
	job := &maintenance.PruneMetrics{DB: db, Days: 30, Now: clock, Chunking: maintenance.Chunking{Rows: 1}}
	if res, err := job.Run(ctx, true); err != nil || res.Rows != 3 {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 3 || !strings.Contains(res.Detail, "observer_metrics=2 dropped_packets=1 ") {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if n := count(t, db, "SELECT count(*) FROM observer_metrics"); n != 2 {
		t.Errorf("observer_metrics = %d, want 2", n)
	}
	if n := count(t, db, "SELECT count(*) FROM dropped_packets"); n != 2 {
		t.Errorf("dropped_packets = %d, want 2", n)
	}
	// Days 0 means the default, 30.
	zero := &maintenance.PruneMetrics{DB: db, Now: clock}
	if res, err := zero.Run(ctx, false); err != nil || !strings.Contains(res.Detail, "before="+now.Add(-30*day).Format(time.RFC3339)) {
		t.Errorf("days=0: %+v, %v", res, err)
	}
}

func TestStaleObserversDays(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	exec(t, db,
		`INSERT INTO observers (id, last_seen) VALUES ('15d', '`+ago(15*day, false)+`')`,
		`INSERT INTO observers (id, last_seen) VALUES ('13d', '`+ago(13*day, true)+`')`,
		`INSERT INTO observers (id, last_seen) VALUES ('2d', '`+ago(2*day, false)+`')`,
		`INSERT INTO observer_metrics (observer_id, timestamp) VALUES ('15d', '`+ago(15*day, false)+`')`,
	)
	never := &maintenance.StaleObservers{DB: db, Days: -1, Now: clock}
	if res, err := never.Run(ctx, false); err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "forever") {
		t.Fatalf("days=-1: %+v, %v", res, err)
	}
	if n := count(t, db, "SELECT count(*) FROM observers WHERE inactive = 1"); n != 0 {
		t.Fatalf("days=-1 marked %d observers", n)
	}
	def := &maintenance.StaleObservers{DB: db, Days: 0, Now: clock} // 0 = 14 days
	if res, err := def.Run(ctx, false); err != nil || res.Rows != 1 {
		t.Fatalf("days=0: %+v, %v; want the 15-day-old observer", res, err)
	}
	three := &maintenance.StaleObservers{DB: db, Days: 3, Now: clock}
	if res, err := three.Run(ctx, false); err != nil || res.Rows != 1 {
		t.Fatalf("days=3: %+v, %v; want the 13-day-old observer", res, err)
	}
	if n := count(t, db, "SELECT count(*) FROM observers WHERE inactive = 1"); n != 2 {
		t.Errorf("inactive observers = %d, want 2", n)
	}
	if n := count(t, db, "SELECT count(*) FROM observer_metrics"); n != 1 {
		t.Errorf("metrics of the inactive observer deleted (spec §9 #27)")
	}
}

func TestStaleNodesOnFixture(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	nodes := count(t, db, "SELECT count(*) FROM nodes")
	// The fixture's nodes were last seen by 2026-05-17T18:13:27Z, three days
	// before the test clock; those not seen since 2026-05-17T12:00:00Z move.
	job := &maintenance.StaleNodes{DB: db, Days: 3, Now: clock, Chunking: maintenance.Chunking{Rows: 16}}
	stale := count(t, db, "SELECT count(*) FROM nodes WHERE last_seen < '2026-05-17T12:00:00'")
	if stale == 0 || stale == nodes {
		t.Fatalf("cutoff does not split the fixture: %d of %d", stale, nodes)
	}
	if res, err := job.Run(ctx, true); err != nil || res.Rows != stale {
		t.Fatalf("dry run = %+v, %v; want %d", res, err, stale)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != stale {
		t.Fatalf("run = %+v, %v; want %d", res, err, stale)
	}
	if n := count(t, db, "SELECT count(*) FROM nodes"); n != nodes-stale {
		t.Errorf("nodes = %d, want %d", n, nodes-stale)
	}
	if n := count(t, db, "SELECT count(*) FROM inactive_nodes"); n != stale {
		t.Errorf("inactive_nodes = %d, want %d", n, stale)
	}
	if n := count(t, db, "SELECT count(*) FROM nodes JOIN inactive_nodes USING (public_key)"); n != 0 {
		t.Errorf("%d nodes are in both tables", n)
	}
	// Days 0 means the default, 7: nothing left is that old.
	if res, err := (&maintenance.StaleNodes{DB: db, Now: clock}).Run(ctx, false); err != nil || res.Rows != 0 {
		t.Errorf("days=0: %+v, %v", res, err)
	}
}

// bloat inserts and deletes big rows so that the file has free pages.
func bloat(t testing.TB, db *sqlite.DB) int64 {
	t.Helper()
	var stmts []string
	for i := 1; i <= 300; i++ {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO transmissions (id, raw_hex, hash, first_seen, decoded_json)
            VALUES (%d, 'AA', 'b%015d', '2020-01-01T00:00:00Z', printf('%%.4000c', 'x'))`, 900000+i, i))
	}
	exec(t, db, stmts...)
	exec(t, db, `DELETE FROM transmissions WHERE id > 900000`)
	free, err := db.FreelistCount(context.Background())
	if err != nil || free < 200 {
		t.Fatalf("freelist = %d, %v", free, err)
	}
	return free
}

func TestVacuumSteppedToCompletion(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	free := bloat(t, db)

	if res, err := (&maintenance.Vacuum{DB: db, Pages: 50}).Run(ctx, true); err != nil || res.Rows != 50 {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	res, err := (&maintenance.Vacuum{DB: db, Pages: 50, Chunking: maintenance.Chunking{Rows: 16}}).Run(ctx, false)
	if err != nil || res.Rows != 50 {
		t.Fatalf("pages=50: %+v, %v; want 50 pages freed", res, err)
	}
	if n, _ := db.FreelistCount(ctx); n != free-50 {
		t.Errorf("freelist = %d, want %d", n, free-50)
	}
	// Pages ≥ the freelist: it drops to 0.
	res, err = (&maintenance.Vacuum{DB: db, Pages: int(free) * 2}).Run(ctx, false)
	if err != nil || res.Rows != free-50 {
		t.Fatalf("pages=2×free: %+v, %v", res, err)
	}
	if n, _ := db.FreelistCount(ctx); n != 0 {
		t.Errorf("freelist = %d, want 0", n)
	}
	if res, err := (&maintenance.Vacuum{DB: db, Pages: -1}).Run(ctx, false); err != nil || res.Rows != 0 {
		t.Errorf("empty freelist: %+v, %v", res, err)
	}
}

func TestStartupVacuumThenIncremental(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	bloat(t, db)
	// auto_vacuum=NONE: the incremental vacuum is a no-op.
	res, err := (&maintenance.Vacuum{DB: db, Pages: -1}).Run(ctx, false)
	if err != nil || res.Rows != 0 || !strings.Contains(res.Detail, "auto_vacuum=NONE") {
		t.Fatalf("vacuum on NONE = %+v, %v", res, err)
	}
	full := &maintenance.FullVacuum{DB: db}
	if res, err := full.Run(ctx, true); err != nil || !strings.Contains(res.Detail, "would VACUUM") {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if mode, _ := db.AutoVacuumMode(ctx); mode != 0 {
		t.Fatalf("dry run changed auto_vacuum to %d", mode)
	}
	if res, err := full.Run(ctx, false); err != nil || res.Rows == 0 {
		t.Fatalf("full vacuum = %+v, %v", res, err)
	}
	if mode, _ := db.AutoVacuumMode(ctx); mode != 2 {
		t.Fatalf("auto_vacuum = %d after the startup vacuum, want 2 (INCREMENTAL)", mode)
	}
	if res, err := full.Run(ctx, false); err != nil || !strings.Contains(res.Detail, "nothing to do") {
		t.Errorf("second full vacuum = %+v, %v", res, err)
	}
	// Now the incremental vacuum works on this file.
	free := bloat(t, db)
	if res, err := (&maintenance.Vacuum{DB: db, Pages: -1}).Run(ctx, false); err != nil || res.Rows != free {
		t.Errorf("incremental after conversion = %+v, %v; want %d", res, err, free)
	}
}

func TestWALCheckpoint(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	packets(t, db, 0, 50, func(int) string { return ago(0, false) })
	res, err := (&maintenance.WALCheckpoint{DB: db}).Run(ctx, false)
	if err != nil || !strings.Contains(res.Detail, "busy=false") {
		t.Fatalf("checkpoint = %+v, %v", res, err)
	}
	if st, err := os.Stat(db.Path() + "-wal"); err != nil || st.Size() != 0 {
		t.Errorf("wal not truncated: %v %v", st, err)
	}
}
