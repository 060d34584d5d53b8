package maintenance_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
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
	if os.Getenv("CORESCOPE_BIG") == "" {
		b.Skip("set CORESCOPE_BIG=1 to build a 2M-transmission database and build its neighbour graph")
	}
	src := bigDatabase(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "big.db")
		copyFile(b, src, path)
		db, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		seedTopology(b, db)
		var times chunkTimes
		job := &maintenance.NeighborEdges{DB: db, Topology: topology.NewLive(db), Chunking: maintenance.Chunking{OnChunk: times.record}}
		ingest := startIngest(db)
		b.StartTimer()

		t0 := time.Now()
		res, err := job.Run(ctx, false)
		elapsed := time.Since(t0)

		b.StopTimer()
		lat := ingest.stop()
		if err != nil {
			b.Fatal(err)
		}
		var edges, sum int64
		if err := db.Reader().QueryRow(`SELECT count(*), COALESCE(sum(count), 0) FROM neighbor_edges`).Scan(&edges, &sum); err != nil {
			b.Fatal(err)
		}
		chunks := times.ds
		obs := int64(bigTx * bigObsPerTx)
		b.ReportMetric(float64(obs)/elapsed.Seconds(), "obs/s")
		b.ReportMetric(float64(len(chunks)), "chunks")
		b.ReportMetric(ms(percentile(chunks, 0.99)), "p99_chunk_ms")
		b.ReportMetric(ms(percentile(chunks, 1)), "max_chunk_ms")
		b.ReportMetric(float64(len(lat)), "ingest_batches")
		b.ReportMetric(ms(percentile(lat, 0.50)), "p50_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 1)), "max_ingest_ms")
		b.Logf("%s in %s: %d edges, %d contributions; %s", res.Detail, elapsed.Round(time.Millisecond), edges, sum, ingest.summary())
		b.Logf("first chunks: %v; slowest: %v", roundAll(chunks[:min(8, len(chunks))]), slowest(chunks, 6))
		db.Close()
	}
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
