package maintenance_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/jobs/maintenance"
)

// decodeWith returns a reprocess decoder with the given options (the
// daemon's is built from the transformer; these tests need the columns
// only).
func decodeWith(opts meshcore.Options) func(string) (*etl.Packet, error) {
	d := meshcore.NewDecoder(opts)
	return func(raw string) (*etl.Packet, error) {
		p, err := d.Decode(raw)
		if err != nil {
			return nil, err
		}
		pk := &etl.Packet{Hash: p.Hash, RawHex: raw, RouteType: p.RouteType, PayloadType: p.PayloadType,
			PayloadVersion: p.PayloadVersion, DecodedJSON: string(p.DecodedJSON), ChannelHash: p.ChannelHash, FromPubkey: p.FromPubkey}
		if p.TransportScoped {
			pk.Scope = sql.Null[string]{V: p.ScopeName, Valid: true}
		}
		return pk, nil
	}
}

func txSnapshot(t *testing.T, db interface{ Reader() *sql.DB }) string {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT id, COALESCE(decoded_json,''), COALESCE(channel_hash,''), COALESCE(from_pubkey,''), COALESCE(scope_name,'<null>') FROM transmissions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id int64
		var a, c, d, e string
		rows.Scan(&id, &a, &c, &d, &e)
		b.WriteString(a + "|" + c + "|" + d + "|" + e + "\n")
	}
	return b.String()
}

func TestReprocessRewritesChangedRowsOnly(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	// A row whose stored decoding went stale, and one that no longer decodes.
	exec(t, db,
		`UPDATE transmissions SET decoded_json = '{"stale":true}', channel_hash = 'old' WHERE id = (SELECT min(id) FROM transmissions WHERE raw_hex IS NOT NULL)`,
		`INSERT INTO transmissions (raw_hex, hash, first_seen, route_type, payload_type, decoded_json) VALUES ('ZZ', 'badbadbadbadbad0', '2026-05-01T00:00:00Z', 1, 1, '{}')`)
	job := &maintenance.Reprocess{DB: db, Decode: decodeWith(meshcore.Options{VerifySignatures: true}), DecoderVersion: "v-test",
		TypeName: meshcore.PayloadTypeName, Chunking: maintenance.Chunking{Rows: 40}}
	before := txSnapshot(t, db)

	dry, err := job.Run(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Rows == 0 || !strings.Contains(dry.Detail, "field.decoded_json=") || !strings.Contains(dry.Detail, "undecodable=") ||
		!strings.Contains(dry.Detail, "badbadbadbadbad0 (invalid hex") {
		t.Fatalf("dry run: %+v", dry)
	}
	if txSnapshot(t, db) != before {
		t.Fatal("dry run wrote")
	}

	res, err := job.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != dry.Rows {
		t.Fatalf("wrote %d rows, dry run said %d: %s", res.Rows, dry.Rows, res.Detail)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE decoded_json = '{"stale":true}'`); n != 0 {
		t.Fatal("stale row not rewritten")
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE hash = 'badbadbadbadbad0' AND decoded_json = '{}'`); n != 1 {
		t.Fatal("undecodable row was changed")
	}
	again, err := job.Run(ctx, false)
	if err != nil || again.Rows != 0 {
		t.Fatalf("second pass rewrote %d rows (%s): %v", again.Rows, again.Detail, err)
	}

	// IfDecoderChanged: nothing to do with the same version.
	job.IfDecoderChanged = true
	if r, err := job.Run(ctx, false); err != nil || !strings.Contains(r.Detail, "decoder unchanged") {
		t.Fatalf("startup run with an unchanged decoder: %+v %v", r, err)
	}
}

func TestReprocessResumesAfterInterruption(t *testing.T) {
	ctx := context.Background()
	db := fixture(t)
	exec(t, db, `UPDATE transmissions SET decoded_json = '{"stale":true}' WHERE raw_hex IS NOT NULL`)
	want := func() string {
		ref := fixture(t)
		exec(t, ref, `UPDATE transmissions SET decoded_json = '{"stale":true}' WHERE raw_hex IS NOT NULL`)
		if _, err := (&maintenance.Reprocess{DB: ref, Decode: decodeWith(meshcore.Options{VerifySignatures: true})}).Run(ctx, false); err != nil {
			t.Fatal(err)
		}
		return txSnapshot(t, ref)
	}()

	// Interrupt the pass after 60 rows.
	cctx, cancel := context.WithCancel(ctx)
	base := decodeWith(meshcore.Options{VerifySignatures: true})
	calls := 0
	job := &maintenance.Reprocess{DB: db, Chunking: maintenance.Chunking{Rows: 25}, Decode: func(raw string) (*etl.Packet, error) {
		calls++
		if calls == 60 {
			cancel()
		}
		return base(raw)
	}}
	if _, err := job.Run(cctx, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE decoded_json = '{"stale":true}'`); n == 0 {
		t.Fatal("the interrupted pass finished")
	}
	res, err := job.Run(ctx, false)
	if err != nil || !strings.Contains(res.Detail, "resumed_after_id=") {
		t.Fatalf("resumed run: %+v %v", res, err)
	}
	if got := txSnapshot(t, db); got != want {
		t.Fatal("interrupted and resumed pass differs from one uninterrupted pass")
	}
}

func TestReprocessAppliesNewChannelKey(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	// A GRP_TXT on the Public channel (decoder vectors), stored by a
	// decoder without keys.
	noKeys := decodeWith(meshcore.Options{})
	withPublic := decodeWith(meshcore.Options{Keys: meshcore.NewKeyring(meshcore.BuiltinKeys())})
	const pkt = "15022761113C8DE912DF39BB7200583576C678AF66C0956DAF7320F6DD2AA8C9E436C874FF672B"
	p, err := noKeys(pkt)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO transmissions (raw_hex, hash, first_seen, route_type, payload_type, payload_version, decoded_json, channel_hash)
VALUES ('`+pkt+`', '`+p.Hash+`', '2026-05-01T00:00:00Z', 1, 5, 0, '`+p.DecodedJSON+`', '`+p.ChannelHash+`')`)
	res, err := (&maintenance.Reprocess{DB: db, Decode: withPublic}).Run(ctx, false)
	if err != nil || res.Rows != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := count(t, db, `SELECT count(*) FROM transmissions WHERE channel_hash = 'Public' AND decoded_json LIKE '%"CHAN"%'`); n != 1 {
		t.Fatalf("Public message not decrypted by reprocess: %s", txSnapshot(t, db))
	}
}
