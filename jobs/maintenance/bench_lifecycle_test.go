package maintenance_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/corescope/etl/etl/meshcore"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs/maintenance"
)

// The data-lifecycle benchmarks on the big database (see
// BenchmarkPrunePacketsBig), with the same simulated ingest running:
//
//	CORESCOPE_BIG=1 go test ./jobs/maintenance -run '^$' -bench 'BackupBig|ReprocessBig' -benchtime 1x -timeout 60m
//
// BackupBig copies the whole file with VACUUM INTO and verifies the copy;
// ReprocessBig re-decodes every transmission, and every one of them changes
// (the big database's decoded_json is synthetic), so it is the worst case.
func BenchmarkBackupBig(b *testing.B) {
	benchBig(b, func(db *sqlite.DB, dir string) (int64, string, error) {
		res, err := (&maintenance.Backup{DB: db, Dir: dir}).Run(context.Background(), false)
		return res.Rows, res.Detail, err
	})
}

func BenchmarkReprocessBig(b *testing.B) {
	benchBig(b, func(db *sqlite.DB, _ string) (int64, string, error) {
		job := &maintenance.Reprocess{DB: db, Decode: decodeWith(meshcore.Options{VerifySignatures: true})}
		res, err := job.Run(context.Background(), false)
		return res.Rows, res.Detail, err
	})
}

func benchBig(b *testing.B, run func(db *sqlite.DB, dir string) (rows int64, detail string, err error)) {
	if os.Getenv("CORESCOPE_BIG") == "" {
		b.Skip("set CORESCOPE_BIG=1 to build a 2M-transmission database")
	}
	src := bigDatabase(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		path := filepath.Join(dir, "big.db")
		copyFile(b, src, path)
		db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		ingest := startIngest(db)
		b.StartTimer()
		t0 := time.Now()
		rows, detail, err := run(db, filepath.Join(dir, "backups"))
		elapsed := time.Since(t0)
		b.StopTimer()
		lat := ingest.stop()
		if err != nil {
			b.Fatal(err)
		}
		st, _ := os.Stat(path)
		b.ReportMetric(elapsed.Seconds(), "seconds")
		b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(st.Size()>>20), "db_MiB")
		b.ReportMetric(ms(percentile(lat, 0.50)), "p50_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 1)), "max_ingest_ms")
		b.Logf("%d rows in %s: %.200s; %s", rows, elapsed.Round(time.Millisecond), detail, ingest.summary())
		db.Close()
	}
}
