package maintenance_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/sqlite/sqlitetest"
	"github.com/corescope/etl/jobs/maintenance"
)

func headFixture(t testing.TB) *sqlite.DB {
	t.Helper()
	return open(t, sqlitetest.CopyHeadFixture(t))
}

// lastSeenMismatches counts transmissions whose last_seen is not the
// newest of their observations' timestamps (0 without observations).
func lastSeenMismatches(t testing.TB, db *sqlite.DB) int64 {
	return count(t, db, `SELECT count(*) FROM transmissions t
    WHERE last_seen != COALESCE((SELECT max(timestamp) FROM observations WHERE transmission_id = t.id), 0)`)
}

func TestBackfillLastSeenOnFixture(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	// A transmission without observations stays 0 and is passed over.
	exec(t, db, `INSERT INTO transmissions (raw_hex, hash, first_seen, payload_type) VALUES ('00', 'orphan', '2026-05-01T00:00:00Z', 1)`)
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE last_seen = 0`); n != 161 {
		t.Fatalf("%d transmissions at 0 before the backfill, want 161", n)
	}
	job := &maintenance.BackfillLastSeen{DB: db, Chunking: maintenance.Chunking{Rows: 7}}
	dry, err := job.Run(ctx, true)
	if err != nil || dry.Rows != 160 {
		t.Fatalf("dry run = %+v, %v; want 160", dry, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 160 {
		t.Fatalf("run = %+v, %v; want 160 rows", res, err)
	}
	if n := lastSeenMismatches(t, db); n != 0 {
		t.Errorf("%d transmissions with a last_seen other than their newest observation", n)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE last_seen = 0`); n != 1 {
		t.Errorf("%d transmissions left at 0, want the one without observations", n)
	}
	if n := count(t, db, `SELECT count(*) FROM _async_migrations WHERE name = ? AND status = 'done'`, sqlite.LastSeenBackfillName); n != 1 {
		t.Error("backfill not recorded as done for CoreScope's ingestor")
	}
	again, err := job.Run(ctx, false)
	if err != nil || again.Rows != 0 || !strings.Contains(again.Detail, "already done") {
		t.Errorf("second run = %+v, %v; want a no-op", again, err)
	}
}

// TestBackfillLastSeenEqualsHead resets the HEAD fixture's last_seen, and
// a 'failed' row CoreScope's ingestor would retry, and checks the job
// writes back exactly the values CoreScope's backfill wrote.
func TestBackfillLastSeenEqualsHead(t *testing.T) {
	ctx := context.Background()
	db := headFixture(t)
	want := count(t, db, `SELECT sum(last_seen) FROM transmissions`)
	if want == 0 {
		t.Fatal("HEAD fixture without last_seen values")
	}
	exec(t, db,
		`CREATE TABLE expected AS SELECT id, last_seen FROM transmissions`,
		`UPDATE transmissions SET last_seen = 0`,
		`UPDATE _async_migrations SET status = 'failed', error = 'x' WHERE name = 'tx_last_seen_backfill_v1'`)
	res, err := (&maintenance.BackfillLastSeen{DB: db, Chunking: maintenance.Chunking{Rows: 50}}).Run(ctx, false)
	if err != nil || res.Rows != 160 {
		t.Fatalf("run = %+v, %v", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions t JOIN expected e USING (id) WHERE t.last_seen != e.last_seen`); n != 0 {
		t.Errorf("%d transmissions differ from CoreScope's backfill", n)
	}
	if n := count(t, db, `SELECT count(*) FROM _async_migrations WHERE name = 'tx_last_seen_backfill_v1' AND status = 'done' AND error IS NULL`); n != 1 {
		t.Error("failed row not replaced by done")
	}
}

func TestBackfillFromPubkey(t *testing.T) {
	ctx := context.Background()
	db := headFixture(t)
	adverts := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type = 4`)
	// Old writer: from_pubkey never filled. One advert without a pubKey,
	// one whose JSON is broken, one with an upper-case key (kept as
	// stored), one non-ADVERT (never touched).
	exec(t, db,
		`CREATE TABLE expected AS SELECT id, from_pubkey FROM transmissions WHERE payload_type = 4`,
		`UPDATE transmissions SET from_pubkey = NULL WHERE payload_type = 4`,
		`UPDATE transmissions SET decoded_json = json_remove(decoded_json, '$.pubKey') WHERE id = (SELECT min(id) FROM transmissions WHERE payload_type = 4)`,
		`UPDATE transmissions SET decoded_json = 'not json' WHERE id = (SELECT max(id) FROM transmissions WHERE payload_type = 4)`,
		`UPDATE transmissions SET decoded_json = json_set(decoded_json, '$.pubKey', upper(json_extract(decoded_json, '$.pubKey')))
		 WHERE id = (SELECT id FROM transmissions WHERE payload_type = 4 ORDER BY id LIMIT 1 OFFSET 1)`,
	)
	job := &maintenance.BackfillFromPubkey{DB: db, Chunking: maintenance.Chunking{Rows: 5}}
	if dry, err := job.Run(ctx, true); err != nil || dry.Rows != adverts {
		t.Fatalf("dry run = %+v, %v; want %d", dry, err, adverts)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != adverts {
		t.Fatalf("run = %+v, %v; want %d rows", res, err, adverts)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type = 4 AND from_pubkey IS NULL`); n != 0 {
		t.Errorf("%d ADVERTs still NULL", n)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type != 4 AND from_pubkey IS NOT NULL`); n != 0 {
		t.Errorf("%d non-ADVERT rows got a from_pubkey", n)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE from_pubkey = ''`); n != 2 {
		t.Errorf("%d sentinel rows, want 2 (no pubKey, broken JSON)", n)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions t JOIN expected e USING (id)
    WHERE t.from_pubkey != '' AND t.from_pubkey != e.from_pubkey AND t.from_pubkey != upper(e.from_pubkey)`); n != 0 {
		t.Errorf("%d rows differ from CoreScope's value", n)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE from_pubkey != lower(from_pubkey)`); n != 1 {
		t.Errorf("the upper-case pubKey must be kept as stored")
	}
	maxID := count(t, db, `SELECT max(id) FROM transmissions`)
	if c, err := db.FromPubkeyCursor(ctx); err != nil || c != maxID {
		t.Errorf("cursor = %d, %v; want %d", c, err, maxID)
	}
	// The next start looks only at newer rows.
	again, err := job.Run(ctx, false)
	if err != nil || again.Rows != 0 {
		t.Errorf("second run = %+v, %v", again, err)
	}
	exec(t, db, `INSERT INTO transmissions (raw_hex, hash, first_seen, payload_type, decoded_json)
    VALUES ('00', 'new-advert', '2026-05-20T00:00:00Z', 4, '{"type":"ADVERT","pubKey":"aa"}')`)
	if res, err := job.Run(ctx, false); err != nil || res.Rows != 1 {
		t.Errorf("run after a new NULL advert = %+v, %v; want 1", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE hash = 'new-advert' AND from_pubkey = 'aa'`); n != 1 {
		t.Error("new advert not backfilled")
	}
}

func TestNormalizePublicChannel(t *testing.T) {
	ctx := context.Background()
	db := headFixture(t)
	public := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type = 5 AND channel_hash = 'Public'`)
	if public == 0 {
		t.Fatal("HEAD fixture without Public channel rows")
	}
	exec(t, db,
		`UPDATE transmissions SET channel_hash = 'public' WHERE channel_hash = 'Public'`,
		`UPDATE transmissions SET channel_hash = 'public' WHERE id = (SELECT min(id) FROM transmissions WHERE payload_type = 4)`,
		`DELETE FROM _migrations WHERE name = 'channel_hash_casing_v1'`)
	job := &maintenance.NormalizePublicChannel{DB: db, Chunking: maintenance.Chunking{Rows: 2}}
	if dry, err := job.Run(ctx, true); err != nil || dry.Rows != public {
		t.Fatalf("dry run = %+v, %v; want %d", dry, err, public)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != public {
		t.Fatalf("run = %+v, %v; want %d", res, err, public)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type = 5 AND channel_hash = 'Public'`); n != public {
		t.Errorf("%d Public rows, want %d", n, public)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE payload_type != 5 AND channel_hash = 'public'`); n != 1 {
		t.Error("a non-GRP_TXT row was renamed")
	}
	if n := count(t, db, `SELECT count(*) FROM _migrations WHERE name = ?`, sqlite.ChannelCasingName); n != 1 {
		t.Error("channel_hash_casing_v1 not recorded")
	}
	if again, err := job.Run(ctx, false); err != nil || again.Rows != 0 {
		t.Errorf("second run = %+v, %v", again, err)
	}
}

func TestLowercaseNodeKeys(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	nodes := count(t, db, `SELECT count(*) FROM nodes`)
	key := func(offset int) string {
		var k string
		if err := db.Reader().QueryRow(`SELECT public_key FROM nodes ORDER BY public_key LIMIT 1 OFFSET ?`, offset).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b, c := key(0), key(1), key(2)
	exec(t, db,
		// a: only an upper-case row.
		`UPDATE nodes SET public_key = upper(public_key) WHERE public_key = '`+a+`'`,
		// b: an upper-case copy seen later, with its own adverts: it wins.
		`UPDATE nodes SET advert_count = 2, first_seen = '2026-01-01T00:00:00Z' WHERE public_key = '`+b+`'`,
		`INSERT INTO nodes (public_key, name, last_seen, first_seen, advert_count)
		 VALUES (upper('`+b+`'), 'newer', '2099-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 3)`,
		// c: an upper-case copy seen earlier: the lower-case row wins.
		`UPDATE nodes SET advert_count = 5, name = 'kept', last_seen = '2026-05-01T00:00:00Z' WHERE public_key = '`+c+`'`,
		`INSERT INTO nodes (public_key, name, last_seen, first_seen, advert_count)
		 VALUES (upper('`+c+`'), 'older', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 1)`,
		`INSERT INTO inactive_nodes (public_key, name, last_seen) VALUES ('ABCDEF', 'gone', '2026-01-01T00:00:00Z')`,
	)
	job := &maintenance.LowercaseNodeKeys{DB: db, Chunking: maintenance.Chunking{Rows: 2}}
	if dry, err := job.Run(ctx, true); err != nil || dry.Rows != 4 {
		t.Fatalf("dry run = %+v, %v; want 4 keys", dry, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 4 || !strings.Contains(res.Detail, "merged=2") {
		t.Fatalf("run = %+v, %v; want 4 keys, 2 merged", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes WHERE public_key != lower(public_key)`) +
		count(t, db, `SELECT count(*) FROM inactive_nodes WHERE public_key != lower(public_key)`); n != 0 {
		t.Errorf("%d upper-case keys left", n)
	}
	if n := count(t, db, `SELECT count(*) FROM nodes`); n != nodes {
		t.Errorf("%d nodes, want %d (merged, none lost)", n, nodes)
	}
	for _, w := range []struct {
		key, name, firstSeen string
		adverts              int64
	}{
		{b, "newer", "2026-01-01T00:00:00Z", 5},
		{c, "kept", "2025-01-01T00:00:00Z", 6},
	} {
		if n := count(t, db, `SELECT count(*) FROM nodes WHERE public_key = ? AND name = ? AND first_seen = ? AND advert_count = ?`,
			w.key, w.name, w.firstSeen, w.adverts); n != 1 {
			t.Errorf("node %s: want name %s, first_seen %s, advert_count %d", w.key, w.name, w.firstSeen, w.adverts)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM nodes WHERE public_key = ?`, a); n != 1 {
		t.Errorf("node %s not lower-cased", a)
	}
	if again, err := job.Run(ctx, false); err != nil || again.Rows != 0 {
		t.Errorf("second run = %+v, %v", again, err)
	}
}

func TestBackfillLastSeenInterruptedResumes(t *testing.T) {
	db := fixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	job := &maintenance.BackfillLastSeen{DB: db, Chunking: maintenance.Chunking{Rows: 10, OnChunk: cancelAfter(3, cancel)}}
	res, err := job.Run(ctx, false)
	if !strings.Contains(fmt.Sprint(err), "context canceled") || res.Rows != 30 {
		t.Fatalf("interrupted run = %+v, %v; want 3 chunks of 10 then canceled", res, err)
	}
	if done, err := db.LastSeenBackfilled(context.Background()); done || err != nil {
		t.Fatalf("interrupted backfill recorded as done (%v)", err)
	}
	job = &maintenance.BackfillLastSeen{DB: db, Chunking: maintenance.Chunking{Rows: 10}}
	if res, err := job.Run(context.Background(), false); err != nil || res.Rows != 130 {
		t.Fatalf("resumed run = %+v, %v; want the other 130", res, err)
	}
	if n := lastSeenMismatches(t, db); n != 0 {
		t.Errorf("%d transmissions with a wrong last_seen", n)
	}
}

func TestBackfillDefaultScope(t *testing.T) {
	ctx := context.Background()
	db := headFixture(t)
	// Node a: two matched adverts, the newer one wins. Node b: only an
	// unmatched transport advert (''), left alone. Every other node has
	// flood adverts only (NULL).
	const a, b = "20aaa863297b2a97372c8ef877d35ee46aa6b5ff4a68ea8bdec3a0dc77cfa54b",
		"2e0de40ad148de6f86cb11c49eb19a138693b4568a184ab368b2db4e6769606a"
	exec(t, db,
		`DELETE FROM _migrations WHERE name = 'backfill_default_scope_v1'`,
		`UPDATE transmissions SET scope_name = CASE WHEN first_seen = (SELECT max(first_seen) FROM transmissions WHERE from_pubkey = '`+a+`')
		 THEN '#new' ELSE '#old' END WHERE from_pubkey = '`+a+`'`,
		`UPDATE transmissions SET scope_name = '' WHERE from_pubkey = '`+b+`'`,
		`UPDATE nodes SET default_scope = '#kept' WHERE public_key = '`+b+`'`)
	if n := count(t, db, `SELECT count(DISTINCT scope_name) FROM transmissions WHERE from_pubkey = ?`, a); n != 2 {
		t.Fatalf("node a has %d scopes, want 2", n)
	}
	job := &maintenance.BackfillDefaultScope{DB: db, Chunking: maintenance.Chunking{Rows: 7}}
	if dry, err := job.Run(ctx, true); err != nil || dry.Rows != 1 {
		t.Fatalf("dry run = %+v, %v; want 1", dry, err)
	}
	res, err := job.Run(ctx, false)
	if err != nil || res.Rows != 1 {
		t.Fatalf("run = %+v, %v; want 1 node", res, err)
	}
	if got := count(t, db, `SELECT count(*) FROM nodes WHERE public_key = ? AND default_scope = '#new'`, a); got != 1 {
		t.Error("node a: want the newest advert's scope")
	}
	if got := count(t, db, `SELECT count(*) FROM nodes WHERE public_key = ? AND default_scope = '#kept'`, b); got != 1 {
		t.Error("node b: an unmatched advert must not clear default_scope")
	}
	if n := count(t, db, `SELECT count(*) FROM nodes WHERE default_scope IS NOT NULL`); n != 2 {
		t.Errorf("%d nodes with a default_scope, want 2", n)
	}
	if n := count(t, db, `SELECT count(*) FROM _migrations WHERE name = ?`, sqlite.DefaultScopeBackfillName); n != 1 {
		t.Error("backfill_default_scope_v1 not recorded")
	}
	if again, err := job.Run(ctx, false); err != nil || !strings.Contains(again.Detail, "already done") {
		t.Errorf("second run = %+v, %v", again, err)
	}
}
