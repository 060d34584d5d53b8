package maintenance_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// BenchmarkBackfillLastSeenBig runs backfillLastSeen on the big database of
// BenchmarkPrunePacketsBig (bigTx transmissions, all with last_seen 0,
// bigObsPerTx observations each) while the same ingest loop applies
// batches through the writer. It is skipped unless CORESCOPE_BIG=1:
//
//	CORESCOPE_BIG=1 go test ./jobs/maintenance -run '^$' -bench BackfillLastSeenBig -benchtime 1x -timeout 60m
//
// It reports what benchBig reports. Measured (2 vCPU, shared with other test
// runs, default chunking): 2M rows in 21.7–31.2 s (64k–92k rows/s),
// 471–597 chunks, p99 chunk 275–286 ms, ingest p50 11 ms, p99 167–209 ms.
func BenchmarkBackfillLastSeenBig(b *testing.B) {
	benchBig(b, func(b *testing.B, db *sqlite.DB, _ string, c maintenance.Chunking) jobs.Job {
		if err := db.WriteChunk(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM _async_migrations WHERE name = ?`, sqlite.LastSeenBackfillName)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		return &maintenance.BackfillLastSeen{DB: db, Chunking: c}
	}, func(b *testing.B, _ *sqlite.DB, res jobs.Result) {
		if res.Rows != bigTx {
			b.Fatalf("updated %d rows, want %d", res.Rows, bigTx)
		}
	})
}
