package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/corescope/etl/etl/sqlite/sqlitetest"
	"github.com/corescope/etl/migrations"
)

// coreScopeNames are CoreScope's _migrations names (spec §1.4, head.md
// §1.2) that are migration files here, in order.
var coreScopeNames = []string{
	"advert_count_unique_v1", "noise_floor_real_v1", "node_telemetry_v1", "obs_timestamp_index_v1",
	"observer_metrics_v1", "observer_metrics_ts_idx", "observers_inactive_v1", "observer_metrics_packets_v1",
	"channel_hash_v1", "dropped_packets_v1", "observations_raw_hex_v1", "observers_last_packet_at_v1",
	"cleanup_legacy_null_hash_ts", "foreign_advert_v1", "from_pubkey_v1",
	// head.md §1.2
	"scope_name_v1", "nodes_default_scope_v1", "observers_clock_naive_v1", "obs_observer_ts_idx_v1",
}

func TestMigrationFiles(t *testing.T) {
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	var names, ours []string
	for _, m := range ms {
		if strings.HasPrefix(m.name, "etl_") {
			ours = append(ours, m.name)
			continue
		}
		names = append(names, m.name)
	}
	if !slices.Equal(names, coreScopeNames) {
		t.Errorf("CoreScope migrations = %v\nwant %v", names, coreScopeNames)
	}
	if ms[0].name != "etl_base_schema_v1" {
		t.Errorf("first migration = %s, want the base schema", ms[0].name)
	}
	for _, m := range ms {
		for _, s := range m.steps {
			up := strings.ToUpper(s.sql)
			if strings.Contains(up, "VACUUM") || strings.Contains(up, "JOURNAL_MODE") {
				t.Errorf("%s: VACUUM or journal_mode inside a migration", m.file)
			}
		}
	}
}

func TestParseMigrationDirectives(t *testing.T) {
	steps, err := parseMigration(`-- comment only
-- +etl add-column t c INTEGER DEFAULT 0
CREATE INDEX IF NOT EXISTS i ON t(c);
-- +etl if-added t c
UPDATE t SET c = 1;
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		{kind: stepAddColumn, table: "t", column: "c", def: "INTEGER DEFAULT 0"},
		{kind: stepSQL, sql: "CREATE INDEX IF NOT EXISTS i ON t(c);\n"},
		{kind: stepIfAdded, table: "t", column: "c", sql: "UPDATE t SET c = 1;\n"},
	}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("steps = %#v\nwant %#v", steps, want)
	}
	for _, bad := range []string{
		"-- +etl add-column t c\n",                               // no definition
		"-- +etl add-column t; c INTEGER\n",                      // bad identifier
		"-- +etl if-added t c\nUPDATE t;\n",                      // no add-column before
		"-- +etl drop-column t c x\n",                            // unknown
		"-- +etl add-column t c INTEGER\n-- +etl if-added t c\n", // guards nothing
	} {
		if _, err := parseMigration(bad); err == nil {
			t.Errorf("parseMigration(%q) accepted", bad)
		}
	}
}

func TestMigrateNewFile(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	ms, _ := loadMigrations(migrations.FS)
	rows, err := db.Reader().QueryContext(ctx, "SELECT name FROM _migrations")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		recorded[n] = true
	}
	rows.Close()
	if len(recorded) != len(ms) {
		t.Errorf("%d migrations recorded, want %d", len(recorded), len(ms))
	}
	for _, m := range ms {
		if !recorded[m.name] {
			t.Errorf("%s not recorded", m.name)
		}
	}
	var jm string
	db.Reader().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&jm)
	if jm != "wal" {
		t.Errorf("journal_mode = %s", jm)
	}
	if mode, _ := db.AutoVacuumMode(ctx); mode != 2 {
		t.Errorf("auto_vacuum = %d, want 2", mode)
	}
	s := describeSchema(t, db.Reader())
	if !strings.Contains(s["index idx_observations_dedup"], "unique=1") {
		t.Errorf("dedup index: %q", s["index idx_observations_dedup"])
	}
	if _, ok := s["index idx_transmissions_hash"]; ok {
		t.Error("idx_transmissions_hash exists, want dropped")
	}
	for _, want := range []string{"view packets_v", "table job_runs", "table neighbor_edges", "table observer_metrics", "table dropped_packets", "table inactive_nodes"} {
		if _, ok := s[want]; !ok {
			t.Errorf("%s missing", want)
		}
	}
	// The view works.
	if _, err := db.Reader().ExecContext(ctx, "SELECT * FROM packets_v"); err != nil {
		t.Error(err)
	}

	// Twice is a no-op.
	applied, err := db.Migrate(ctx)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate: applied %v, %v", applied, err)
	}
}

// describeSchema describes every table (columns from pragma_table_info),
// index (unique flag, partial flag, columns from pragma_index_xinfo, with
// expressions as <expr>) and view, keyed by "type name".
func describeSchema(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	rows, err := db.Query(`SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	type obj struct{ typ, name, tbl string }
	var objs []obj
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.typ, &o.name, &o.tbl); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	rows.Close()
	for _, o := range objs {
		var b strings.Builder
		switch o.typ {
		case "table", "view":
			cols, err := db.Query(`SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, o.name)
			if err != nil {
				t.Fatal(err)
			}
			for cols.Next() {
				var cid, notnull, pk int
				var name, typ string
				var dflt sql.NullString
				cols.Scan(&cid, &name, &typ, &notnull, &dflt, &pk)
				fmt.Fprintf(&b, "%d:%s %s notnull=%d default=%v pk=%d; ", cid, name, typ, notnull, dflt.String, pk)
			}
			cols.Close()
		case "index":
			var unique, partial int
			if err := db.QueryRow(`SELECT "unique", partial FROM pragma_index_list(?) WHERE name = ?`, o.tbl, o.name).Scan(&unique, &partial); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "on %s unique=%d partial=%d:", o.tbl, unique, partial)
			cols, err := db.Query(`SELECT cid, name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`, o.name)
			if err != nil {
				t.Fatal(err)
			}
			for cols.Next() {
				var cid int
				var name sql.NullString
				cols.Scan(&cid, &name)
				if cid == -2 {
					name.String = "<expr>"
				}
				fmt.Fprintf(&b, " %s", name.String)
			}
			cols.Close()
		}
		out[o.typ+" "+o.name] = b.String()
	}
	return out
}

// dumpTables returns every row of every table of db, as text, by table,
// reading only the given columns of each table (those that existed before).
func dumpTables(t testing.TB, db *sql.DB, cols map[string][]string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, cs := range cols {
		q := fmt.Sprintf(`SELECT quote(%s) FROM %q ORDER BY rowid`, strings.Join(cs, `) || '|' || quote(`), table)
		if table == "sqlite_sequence" {
			q = `SELECT name || '|' || seq FROM sqlite_sequence ORDER BY name`
		}
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var dump []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			dump = append(dump, s)
		}
		rows.Close()
		out[table] = dump
	}
	return out
}

func tableColumns(t testing.TB, db *sql.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	rows, err := db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tbl, col string
		rows.Scan(&tbl, &col)
		out[tbl] = append(out[tbl], `"`+col+`"`)
	}
	return out
}

// bookkeeping are the tables whose rows a migration adds to: their rows
// before must still be there after, unchanged.
var bookkeeping = map[string]bool{"_migrations": true, "_async_migrations": true}

// checkUpgrade migrates the file at path and checks that every row of
// every table is unchanged apart from the new columns (rows of the
// bookkeeping tables are only added), that the schema equals a new
// database's, that a second Migrate is a no-op and that a packet can be
// stored. It returns the migrated database.
func checkUpgrade(t *testing.T, path string) *DB {
	t.Helper()
	raw := rawOpen(t, path)
	cols := tableColumns(t, raw)
	before := dumpTables(t, raw, cols)
	raw.Close()

	db := openMigrated(t, path)
	after := dumpTables(t, db.Reader(), cols)
	for table := range before {
		if bookkeeping[table] {
			for _, r := range before[table] {
				if !slices.Contains(after[table], r) {
					t.Errorf("%s lost row %s", table, r)
				}
			}
			continue
		}
		if !slices.Equal(before[table], after[table]) {
			t.Errorf("table %s changed: %d rows before, %d after", table, len(before[table]), len(after[table]))
		}
	}

	// Same schema as a new database, column order included: nothing
	// CoreScope created is missing from ours, and nothing of ours is
	// missing from the upgraded file.
	fresh := describeSchema(t, openTest(t).Reader())
	upgraded := describeSchema(t, db.Reader())
	for k, v := range fresh {
		if upgraded[k] != v {
			t.Errorf("%s:\n  new:      %s\n  upgraded: %s", k, v, upgraded[k])
		}
	}
	for k := range upgraded {
		if _, ok := fresh[k]; !ok {
			t.Errorf("%s exists only in the upgraded file", k)
		}
	}
	if missing := missingHeadObjects(t, db.Reader()); len(missing) > 0 {
		t.Errorf("CoreScope's server would refuse the file: missing %v", missing)
	}

	applied, err := db.Migrate(context.Background())
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate: %v, %v", applied, err)
	}
	// New observations can be stored (spec §9 #1: CoreScope fails here).
	res := apply(t, db, packetRec("ffffffffffffffff", "OBSX", t0))
	if res.ObsInserted != 1 {
		t.Errorf("ObsInserted = %d", res.ObsInserted)
	}
	return db
}

func TestMigrateFixture(t *testing.T) {
	path := copyFixture(t)
	raw := rawOpen(t, path)
	if n, m, e := queryInt(t, raw, "SELECT count(*) FROM observations"), queryInt(t, raw, "SELECT count(*) FROM nodes"),
		queryInt(t, raw, "SELECT count(*) FROM neighbor_edges"); n != 160 || m != 200 || e != 110 {
		t.Fatalf("unexpected fixture: %d observations, %d nodes, %d edges", n, m, e)
	}
	raw.Close()
	db := checkUpgrade(t, path)
	// The last_seen backfill is left to its job.
	if n := queryInt(t, db.Reader(), "SELECT count(*) FROM transmissions WHERE last_seen = 0"); n != 160 {
		t.Errorf("%d transmissions with last_seen 0, want all 160 (no backfill in the migration)", n)
	}
}

// beforeHeadMigrations is the number of migrations ours had before the
// HEAD schema (head.md §1.4).
const beforeHeadMigrations = 21

// migrateFirst applies only the first n migrations to the file at path,
// as an older version of ours did, and closes it.
func migrateFirst(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.migrate(ctx, ms[:n]); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFromOurs21 upgrades a file made by our first 21 migrations
// (the legacy fixture migrated by the version before the HEAD schema).
func TestMigrateFromOurs21(t *testing.T) {
	path := copyFixture(t)
	migrateFirst(t, path, beforeHeadMigrations)
	raw := rawOpen(t, path)
	if missing := missingHeadObjects(t, raw); len(missing) != 13 {
		t.Errorf("a file of our 21 migrations misses %v, want the 13 columns of head.md §0", missing)
	}
	raw.Close()
	checkUpgrade(t, path)
}

// TestMigrateHeadFixture upgrades a file written by CoreScope's HEAD
// ingestor: every new column is there already, its markers and
// _async_migrations rows are kept, and its idx_transmissions_hash goes
// (spec §9 #24).
func TestMigrateHeadFixture(t *testing.T) {
	path := sqlitetest.CopyHeadFixture(t)
	db := checkUpgrade(t, path)
	r := db.Reader()
	if got := queryString(t, r, `SELECT group_concat(name || '=' || status, ',') FROM
    (SELECT name, status FROM _async_migrations ORDER BY name)`).String; got != "obs_observer_ts_idx_v1=done,tx_last_seen_backfill_v1=done" {
		t.Errorf("_async_migrations = %s", got)
	}
	if n := queryInt(t, r, "SELECT count(*) FROM transmissions WHERE last_seen = 0"); n != 0 {
		t.Errorf("%d transmissions lost their last_seen", n)
	}
}

// headAsserted are the 22 objects CoreScope's HEAD server requires before
// it starts (head.md §1.1, internal/dbschema AssertReady): a table, or
// table.column.
var headAsserted = []string{
	"neighbor_edges",
	"observations.resolved_path", "observers.inactive", "observers.last_packet_at", "observers.iata",
	"nodes.foreign_advert", "inactive_nodes.foreign_advert", "transmissions.from_pubkey",
	"transmissions.last_seen", "transmissions.scope_name", "nodes.default_scope", "inactive_nodes.default_scope",
	"observations.raw_hex",
	"nodes.multibyte_sup", "nodes.multibyte_evidence", "inactive_nodes.multibyte_sup", "inactive_nodes.multibyte_evidence",
	"observers.clock_skew_seconds", "observers.clock_skew_count_24h", "observers.clock_last_naive_at",
	"observers.can_relay", "observers.can_relay_seen",
}

// missingHeadObjects mirrors AssertReady: it probes each object of
// headAsserted with sqlite_master and pragma_table_info and returns the
// missing ones.
func missingHeadObjects(t testing.TB, db *sql.DB) []string {
	t.Helper()
	var missing []string
	for _, o := range headAsserted {
		table, column, isColumn := strings.Cut(o, ".")
		q, args := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, []any{table}
		if isColumn {
			q, args = `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, []any{table, column}
		}
		if queryInt(t, db, q, args...) == 0 {
			missing = append(missing, o)
		}
	}
	return missing
}

func TestHeadAssertReadyNewFile(t *testing.T) {
	if len(headAsserted) != 22 {
		t.Fatalf("%d asserted objects, head.md §1.1 lists 22", len(headAsserted))
	}
	r := openTest(t).Reader()
	if missing := missingHeadObjects(t, r); len(missing) > 0 {
		t.Errorf("missing %v", missing)
	}
	// head.md §1.3: the column order of a new HEAD file. nodes and
	// inactive_nodes must match each other (CoreScope moves rows with a
	// positional SELECT *).
	nodeCols := "public_key,name,role,lat,lon,last_seen,first_seen,advert_count,battery_mv,temperature_c," +
		"foreign_advert,default_scope,multibyte_sup,multibyte_evidence"
	for table, want := range map[string]string{
		"nodes":          nodeCols,
		"inactive_nodes": nodeCols,
		"observers": "id,name,iata,last_seen,first_seen,packet_count,model,firmware,client_version,radio,battery_mv," +
			"uptime_secs,noise_floor,inactive,last_packet_at,clock_skew_seconds,clock_skew_count_24h,clock_last_naive_at," +
			"can_relay,can_relay_seen",
		"observations": "id,transmission_id,observer_idx,direction,snr,rssi,score,path_json,timestamp,resolved_path,raw_hex",
		// Differs from a new HEAD file (from_pubkey, last_seen before
		// created_at there); it is the order of an upgraded HEAD file, and
		// no reader depends on it (head.md §1.3).
		"transmissions": "id,raw_hex,hash,first_seen,route_type,payload_type,payload_version,decoded_json,created_at," +
			"channel_hash,from_pubkey,scope_name,last_seen",
	} {
		got := queryString(t, r, `SELECT group_concat(name, ',') FROM (SELECT name FROM pragma_table_info(?) ORDER BY cid)`, table).String
		if got != want {
			t.Errorf("%s columns:\n  got  %s\n  want %s", table, got, want)
		}
	}
	if got := queryString(t, r, `SELECT group_concat(name || '=' || status, ',') FROM _async_migrations`).String; got != "obs_observer_ts_idx_v1=done" {
		t.Errorf("_async_migrations = %s, want only the index (the last_seen backfill is its job's)", got)
	}
}

func TestState(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, ok, err := db.State(ctx, "k"); ok || err != nil {
		t.Fatalf("State of a missing key = %v, %v", ok, err)
	}
	for _, v := range []string{"1", "two"} {
		if err := db.SetState(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := db.State(ctx, "k"); got != v || !ok || err != nil {
			t.Errorf("State = %q, %v, %v; want %q", got, ok, err, v)
		}
	}
	if n := queryInt(t, db.Reader(), `SELECT count(*) FROM etl_state WHERE updated_at LIKE '20__-__-__T__:__:__.___Z'`); n != 1 {
		t.Errorf("updated_at not RFC 3339 UTC with milliseconds")
	}
}

func TestMigrateFixtureRemovesExactDuplicates(t *testing.T) {
	path := copyFixture(t)
	raw := rawOpen(t, path)
	// Three exact duplicates of two observations (one with a NULL path),
	// one row that differs only by path (kept), and two rows without an
	// observer (kept: they may be different observers).
	for _, q := range []string{
		`INSERT INTO observations (transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp)
		 SELECT transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp + 5 FROM observations WHERE id = 1`,
		`INSERT INTO observations (transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp)
		 SELECT transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp + 9 FROM observations WHERE id = 1`,
		`UPDATE observations SET path_json = NULL WHERE id = 2`,
		`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp)
		 SELECT transmission_id, observer_idx, '', timestamp FROM observations WHERE id = 2`,
		`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp)
		 SELECT transmission_id, observer_idx, '["AA"]', timestamp FROM observations WHERE id = 3`,
		`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp) VALUES (1, NULL, '[]', 1)`,
		`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp) VALUES (1, NULL, '[]', 2)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	before := queryInt(t, raw, "SELECT count(*) FROM observations")
	raw.Close()

	db := openMigrated(t, path)
	r := db.Reader()
	after := queryInt(t, r, "SELECT count(*) FROM observations")
	if before-after != 3 {
		t.Errorf("removed %d observations, want 3 exact duplicates", before-after)
	}
	if n := queryInt(t, r, "SELECT count(*) FROM observations WHERE id IN (1, 2, 3)"); n != 3 {
		t.Errorf("the lowest ids must be kept, found %d of 3", n)
	}
	if n := queryInt(t, r, "SELECT count(*) FROM observations WHERE observer_idx IS NULL"); n != 2 {
		t.Errorf("%d observations without observer, want 2 kept", n)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	bad := fstest.MapFS{
		"0001_etl_test_bad_v1.sql": {Data: []byte(`CREATE TABLE half_done (x);
-- +etl add-column nodes half_col INTEGER
INSERT INTO no_such_table VALUES (1);
`)},
	}
	ms, err := loadMigrations(bad)
	if err != nil {
		t.Fatal(err)
	}
	applied, err := db.migrate(ctx, ms)
	if err == nil || !strings.Contains(err.Error(), "etl_test_bad_v1") || len(applied) != 0 {
		t.Fatalf("migrate = %v, %v; want the migration's error", applied, err)
	}
	r := db.Reader()
	if n := queryInt(t, r, "SELECT count(*) FROM _migrations WHERE name = 'etl_test_bad_v1'"); n != 0 {
		t.Error("failed migration recorded")
	}
	if n := queryInt(t, r, "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'"); n != 0 {
		t.Error("failed migration's table kept")
	}
	if n := queryInt(t, r, "SELECT count(*) FROM pragma_table_info('nodes') WHERE name = 'half_col'"); n != 0 {
		t.Error("failed migration's column kept")
	}
	// Earlier migrations of the same run stay applied.
	good := fstest.MapFS{
		"0001_etl_test_good_v1.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS good (x);\n")},
		"0002_etl_test_bad_v1.sql":  bad["0001_etl_test_bad_v1.sql"],
	}
	ms, _ = loadMigrations(good)
	applied, err = db.migrate(ctx, ms)
	if err == nil || !slices.Equal(applied, []string{"etl_test_good_v1"}) {
		t.Fatalf("migrate = %v, %v", applied, err)
	}
	if n := queryInt(t, r, "SELECT count(*) FROM _migrations WHERE name = 'etl_test_good_v1'"); n != 1 {
		t.Error("good migration not recorded")
	}
}

func TestMigrateIfAddedBackfill(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	fs := fstest.MapFS{"0001_etl_test_v1.sql": {Data: []byte(`
CREATE TABLE t (a INTEGER);
INSERT INTO t VALUES (1);
-- +etl add-column t b INTEGER
-- +etl if-added t b
UPDATE t SET b = a + 1;
`)}, "0002_etl_test_v2.sql": {Data: []byte(`
INSERT INTO t (a) VALUES (10);
-- +etl add-column t b INTEGER
-- +etl if-added t b
UPDATE t SET b = a + 100;
`)}}
	ms, err := loadMigrations(fs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	r := db.Reader()
	if got := queryString(t, r, "SELECT group_concat(a || ':' || COALESCE(b, 'NULL'), ',') FROM t").String; got != "1:2,10:NULL" {
		t.Errorf("t = %s, want 1:2,10:NULL (the second backfill is skipped: its column existed)", got)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for _, fs := range []fstest.MapFS{
		{"0001_a.sql": {}, "0003_b.sql": {}}, // gap
		{"1_a.sql": {}},                      // not NNNN
		{"0001_a.sql": {}, "0002_a.sql": {}}, // duplicate name
		{"0001_Bad-Name.sql": {}},            // not lowercase
	} {
		if _, err := loadMigrations(fs); err == nil {
			t.Errorf("loadMigrations(%v) accepted", fs)
		}
	}
}
