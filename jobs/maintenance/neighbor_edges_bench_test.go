package maintenance_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// The first neighborEdges run over the big database (see
// BenchmarkPrunePacketsBig), skipped unless CORESCOPE_BIG=1:
//
//	CORESCOPE_BIG=1 go test ./jobs/maintenance -run '^$' -bench NeighborEdgesBig -benchtime 1x -timeout 60m
//
// Before timing, the copy gets the 40 observers its observations name,
// 10,000 nodes with random keys plus the two whose prefixes every path
// starts with, and an origin on every advert, so that each observation
// yields the edges real traffic does (observer↔last hop when that 2-byte
// prefix is one node's, advert origin↔first hop). The job then walks all
// history with the default chunking while the ingest loop applies
// 1,000 packets/s through the same writer.
func BenchmarkNeighborEdgesBig(b *testing.B) {
	benchBig(b, func(b *testing.B, db *sqlite.DB, _ string, c maintenance.Chunking) jobs.Job {
		seedTopology(b, db)
		return &maintenance.NeighborEdges{DB: db, Topology: topology.NewLive(db), Chunking: c}
	}, func(b *testing.B, db *sqlite.DB, _ jobs.Result) {
		var edges, sum int64
		if err := db.Reader().QueryRow(`SELECT count(*), COALESCE(sum(count), 0) FROM neighbor_edges`).Scan(&edges, &sum); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d edges, %d contributions", edges, sum)
	})
}

// seedTopology adds observers 1..40, 10,000 random nodes plus 7d1d… and
// da2a… (the first two hops of every big-database path), and sets
// from_pubkey on the adverts to one of the nodes.
func seedTopology(b *testing.B, db *sqlite.DB) {
	r := rand.New(rand.NewPCG(3, 4))
	key := func(prefix string) string {
		k := prefix
		for len(k) < 64 {
			k += fmt.Sprintf("%016x", r.Uint64())
		}
		return k[:64]
	}
	keys := []string{key("7d1d"), key("da2a")}
	for range 10000 {
		keys = append(keys, key(""))
	}
	err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for i := 1; i <= 40; i++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO observers (rowid, id, name, last_seen) VALUES (?, ?, 'bench', '2025-05-01T00:00:00Z')`,
				i, fmt.Sprintf("%064X", i)); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO nodes (public_key, name, last_seen) VALUES (?, 'bench', '2025-05-01T00:00:00Z')`, k); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE transmissions SET from_pubkey = ? WHERE payload_type = 4`, keys[2])
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}
