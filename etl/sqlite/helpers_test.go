package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/sqlite/sqlitetest"
)

// openTest opens and migrates a new database in t.TempDir().
func openTest(t testing.TB) *DB {
	t.Helper()
	return openMigrated(t, filepath.Join(t.TempDir(), "corescope.db"))
}

func openMigrated(t testing.TB, path string) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// copyFixture copies testdata/corescope-fixture.db into a new temp dir.
func copyFixture(t testing.TB) string { return sqlitetest.CopyFixture(t) }

// rawOpen opens path with a plain connection (no lock, no pragmas), for
// inspecting files the way another process would.
func rawOpen(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n sql.NullInt64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

func queryString(t testing.TB, db *sql.DB, q string, args ...any) sql.NullString {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func apply(t testing.TB, db *DB, recs ...etl.Record) etl.ApplyResult {
	t.Helper()
	res, err := db.Apply(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var t0 = time.Date(2026, 5, 17, 18, 13, 27, 0, time.UTC)

func f64(v float64) sql.Null[float64] { return sql.Null[float64]{V: v, Valid: true} }
func i64(v int64) sql.Null[int64]     { return sql.Null[int64]{V: v, Valid: true} }

// packetRec is a packet from observer obs (name "", iata "") at t.
func packetRec(hash, obs string, t time.Time) etl.Record {
	return etl.Record{
		Kind:     etl.KindPacket,
		Time:     t,
		Observer: etl.Observer{ID: obs},
		Packet: &etl.Packet{
			Hash:        hash,
			RawHex:      "0A00" + hash,
			RouteType:   1,
			PayloadType: 2,
			DecodedJSON: `{"type":"TXT_MSG"}`,
			PathJSON:    "[]",
			ObsRawHex:   "0A00" + hash,
		},
	}
}

// advertRec is a valid advert of node pubkey heard by obs.
func advertRec(hash, obs, pubkey string, t time.Time) etl.Record {
	r := packetRec(hash, obs, t)
	r.Packet.PayloadType = 4
	r.Packet.FromPubkey = pubkey
	r.Packet.Node = &etl.Node{PublicKey: pubkey, Name: "Node " + pubkey[:4], Role: "repeater"}
	return r
}

func statusRec(obs string, t time.Time, s etl.Status) etl.Record {
	return etl.Record{Kind: etl.KindStatus, Time: t, Observer: etl.Observer{ID: obs}, Status: &s}
}
