package maintenance_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs/maintenance"
)

// Keys of the neighbour tests: nodeA has the unique 1-byte prefix 46,
// nodeC1 and nodeC2 share CC. obsO is an observer id as MeshCore uplinks
// publish it (upper case).
const (
	nodeA  = "46d6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e"
	nodeB  = "bb01a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e"
	nodeC1 = "cc11a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e"
	nodeC2 = "cc22a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e"
	obsO   = "0BSERVER5EED"

	typeAdvert, typeTxt = 4, 2
)

// graphDB builds rows the way ingest stores them.
type graphDB struct {
	t  testing.TB
	db *sqlite.DB
	n  int
}

func (g *graphDB) write(q string, args ...any) int64 {
	g.t.Helper()
	var id int64
	err := g.db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		g.t.Fatalf("%s: %v", q, err)
	}
	return id
}

func (g *graphDB) nodes(keys ...string) {
	for _, k := range keys {
		g.write(`INSERT INTO nodes (public_key, name, last_seen) VALUES (?, 'n', '2026-05-20T00:00:00Z')`, k)
	}
}

// observer inserts an observer and returns its rowid (observer_idx).
func (g *graphDB) observer(id string) int64 {
	return g.write(`INSERT INTO observers (id, name, last_seen) VALUES (?, 'o', '2026-05-20T00:00:00Z')`, id)
}

// packet inserts a transmission and one observation of it, and returns the
// observation id.
func (g *graphDB) packet(typ int, from string, observerIdx int64, path string, ts time.Time) int64 {
	g.n++
	hash := fmt.Sprintf("%016x", g.n)
	var fromArg any
	if from != "" {
		fromArg = from
	}
	tx := g.write(`INSERT INTO transmissions (raw_hex, hash, first_seen, payload_type, from_pubkey, decoded_json)
    VALUES ('00', ?, ?, ?, ?, '{}')`, hash, ts.UTC().Format(time.RFC3339), typ, fromArg)
	return g.observe(tx, observerIdx, path, ts)
}

func (g *graphDB) observe(txID, observerIdx int64, path string, ts time.Time) int64 {
	return g.write(`INSERT INTO observations (transmission_id, observer_idx, path_json, timestamp) VALUES (?, ?, ?, ?)`,
		txID, observerIdx, path, ts.Unix())
}

type edgeRow struct {
	count    int64
	lastSeen string
}

func edges(t testing.TB, db *sqlite.DB) map[[2]string]edgeRow {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT node_a, node_b, count, last_seen FROM neighbor_edges`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[[2]string]edgeRow{}
	for rows.Next() {
		var a, b string
		var r edgeRow
		if err := rows.Scan(&a, &b, &r.count, &r.lastSeen); err != nil {
			t.Fatal(err)
		}
		out[[2]string{a, b}] = r
	}
	return out
}

func neighborJob(db *sqlite.DB, rows int) (*maintenance.NeighborEdges, *topology.Live) {
	live := topology.NewLive(db)
	return &maintenance.NeighborEdges{DB: db, Topology: live, Chunking: maintenance.Chunking{Rows: rows}}, live
}

func run(t testing.TB, j *maintenance.NeighborEdges) int64 {
	t.Helper()
	res, err := j.Run(context.Background(), false)
	if err != nil {
		t.Fatalf("neighborEdges: %v (%s)", err, res.Detail)
	}
	t.Logf("neighborEdges: rows=%d %s", res.Rows, res.Detail)
	return res.Rows
}

func cursor(t testing.TB, db *sqlite.DB) int64 {
	t.Helper()
	id, ok, err := db.NeighborCursor(context.Background())
	if err != nil || !ok {
		t.Fatalf("cursor: %d %v %v", id, ok, err)
	}
	return id
}

func pair(a, b string) [2]string { return [2]string(topology.NewPair(a, b)) }

// TestNeighborEdgesCase5 is head.md §6 case 5: an advert from A heard
// 0-hop by O and a packet with path ["46"] (A's unique prefix) heard by O
// make one edge with count 2 and the newer observation's time; the prune
// removes it once it is older than 5 days.
func TestNeighborEdgesCase5(t *testing.T) {
	db := newDB(t)
	g := &graphDB{t: t, db: db}
	g.nodes(nodeA, nodeB)
	o := g.observer(obsO)
	t1 := now.Add(-time.Hour)
	t2 := now.Add(-time.Minute)
	g.packet(typeAdvert, nodeA, o, `[]`, t1)
	g.packet(typeTxt, "", o, `["46"]`, t2)

	j, _ := neighborJob(db, 0)
	if n := run(t, j); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
	want := map[[2]string]edgeRow{pair(nodeA, obsO): {2, t2.UTC().Format(time.RFC3339)}}
	if got := edges(t, db); !equalEdges(got, want) {
		t.Fatalf("edges = %v, want %v", got, want)
	}
	if k := pair(nodeA, obsO); k[0] != strings.ToLower(obsO) {
		t.Fatalf("canonical order: %v", k)
	}

	prune := func(at time.Time) int64 {
		res, err := (&maintenance.PruneNeighborEdges{DB: db, Now: func() time.Time { return at }}).Run(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows
	}
	if n := prune(t2.Add(5*24*time.Hour - time.Second)); n != 0 {
		t.Errorf("prune before 5 days deleted %d", n)
	}
	if n := prune(t2.Add(5*24*time.Hour + time.Second)); n != 1 || len(edges(t, db)) != 0 {
		t.Errorf("prune after 5 days deleted %d, left %v", n, edges(t, db))
	}
}

func equalEdges(a, b map[[2]string]edgeRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestNeighborEdgesRules: observer↔last hop, advert origin↔first hop, an
// ambiguous prefix never resolves, a late observation (older timestamp,
// newer id) is still counted, and a rerun adds nothing.
func TestNeighborEdgesRules(t *testing.T) {
	db := newDB(t)
	g := &graphDB{t: t, db: db}
	g.nodes(nodeA, nodeB, nodeC1, nodeC2)
	o := g.observer(obsO)
	t1 := now.Add(-time.Hour)
	g.packet(typeTxt, "", o, `["BB","46"]`, t1)       // observer↔A only
	g.packet(typeAdvert, nodeB, o, `["46","CC"]`, t1) // B↔A; last hop ambiguous
	g.packet(typeTxt, "", o, `["CC"]`, t1)            // nothing

	j, _ := neighborJob(db, 0)
	run(t, j)
	want := map[[2]string]edgeRow{
		pair(obsO, nodeA):  {1, t1.UTC().Format(time.RFC3339)},
		pair(nodeA, nodeB): {1, t1.UTC().Format(time.RFC3339)},
	}
	if got := edges(t, db); !equalEdges(got, want) {
		t.Fatalf("edges = %v, want %v", got, want)
	}

	if n := run(t, j); n != 0 || !equalEdges(edges(t, db), want) {
		t.Fatalf("rerun wrote %d rows: %v", n, edges(t, db))
	}

	late := g.packet(typeTxt, "", o, `["46"]`, t1.Add(-24*time.Hour))
	run(t, j)
	want[pair(obsO, nodeA)] = edgeRow{2, t1.UTC().Format(time.RFC3339)}
	if got := edges(t, db); !equalEdges(got, want) {
		t.Fatalf("late observation: edges = %v, want %v", got, want)
	}
	if c := cursor(t, db); c != late {
		t.Errorf("cursor = %d, want %d", c, late)
	}
}

// TestNeighborEdgesCursor: chunks that yield no edge still advance the
// cursor, history is walked in several chunks, and the cursor survives a
// restart (no double counting).
func TestNeighborEdgesCursor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "corescope.db")
	db := open(t, path)
	g := &graphDB{t: t, db: db}
	g.nodes(nodeA, nodeC1, nodeC2)
	o := g.observer(obsO)
	var last int64
	for i := range 250 {
		last = g.packet(typeTxt, "", o, `["CC"]`, now.Add(-time.Duration(i)*time.Second)) // edgeless
	}
	j, _ := neighborJob(db, maintenance.MinChunkRows)
	res, err := j.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Detail, "observations=250 edge_rows=0") || !strings.Contains(res.Detail, "chunks=3") {
		t.Errorf("detail = %q", res.Detail)
	}
	if c := cursor(t, db); c != last {
		t.Fatalf("cursor = %d after edgeless chunks, want %d", c, last)
	}

	g.packet(typeTxt, "", o, `["46"]`, now)
	run(t, j)
	db.Close()

	db = open(t, path)
	g.db = db
	g.packet(typeTxt, "", o, `["46"]`, now)
	j, _ = neighborJob(db, 0)
	run(t, j)
	if got := edges(t, db)[pair(obsO, nodeA)].count; got != 2 {
		t.Errorf("count = %d after a restart, want 2", got)
	}

	res, err = j.Run(context.Background(), true)
	if err != nil || res.Detail != "observations=0 pending" {
		t.Errorf("dry run: %v %q", err, res.Detail)
	}
}

// TestNeighborEdgesTakeOver: a database whose neighbor_edges CoreScope's
// own writer built (no cursor of ours) is continued after that writer's
// watermark, not counted again from the start.
func TestNeighborEdgesTakeOver(t *testing.T) {
	db := newDB(t)
	g := &graphDB{t: t, db: db}
	g.nodes(nodeA)
	o := g.observer(obsO)
	t1 := now.Add(-time.Hour)
	g.packet(typeTxt, "", o, `["46"]`, t1)
	g.write(`INSERT INTO neighbor_edges (node_a, node_b, count, last_seen) VALUES (?, ?, 1, ?)`,
		pair(obsO, nodeA)[0], pair(obsO, nodeA)[1], t1.UTC().Format(time.RFC3339))
	g.packet(typeTxt, "", o, `["46"]`, now)

	res, err := (&maintenance.NeighborEdges{DB: db, Topology: topology.NewLive(db)}).Run(context.Background(), true)
	if err != nil || res.Detail != "observations=1 pending" {
		t.Fatalf("dry run: %v %q", err, res.Detail)
	}
	j, _ := neighborJob(db, 0)
	run(t, j)
	want := map[[2]string]edgeRow{pair(obsO, nodeA): {2, now.UTC().Format(time.RFC3339)}}
	if got := edges(t, db); !equalEdges(got, want) {
		t.Fatalf("edges = %v, want %v", got, want)
	}
}

// TestNeighborEdgesRefreshesResolver: a run publishes the prefix index and
// the graph it built, so that the ingest path resolves with them.
func TestNeighborEdgesRefreshesResolver(t *testing.T) {
	db := newDB(t)
	g := &graphDB{t: t, db: db}
	g.nodes(nodeA, nodeC1, nodeC2)
	o := g.observer(obsO)
	g.write(`INSERT INTO neighbor_edges (node_a, node_b, count, last_seen) VALUES (?, ?, 1, ?)`,
		pair(nodeA, nodeC2)[0], pair(nodeA, nodeC2)[1], now.UTC().Format(time.RFC3339))
	g.packet(typeTxt, "", o, `[]`, now)
	j, live := neighborJob(db, 0)
	if got := live.ResolvedPath(typeAdvert, nodeA, `["CC"]`); got != "" {
		t.Fatalf("before the first run: %q", got)
	}
	run(t, j)
	if got, want := live.ResolvedPath(typeAdvert, nodeA, `["CC"]`), `["`+nodeC2+`"]`; got != want {
		t.Errorf("resolved_path = %s, want %s", got, want)
	}
}
