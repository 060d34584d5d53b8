package maintenance_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/jobs"
	"github.com/corescope/etl/jobs/maintenance"
)

// The big prune benchmark. It is skipped unless CORESCOPE_BIG=1:
//
//	CORESCOPE_BIG=1 go test ./jobs/maintenance -run '^$' -bench PrunePacketsBig -benchtime 1x -timeout 60m
//
// It builds (once, cached in $CORESCOPE_BIG_DB or the temp dir) a database
// with bigTx transmissions and bigObsPerTx observations each, all older
// than the retention, copies it for each iteration, and runs prunePackets
// with the default chunking while an ingest loop applies a batch of
// ingestBatch packets every ingestEvery through the same writer. It
// reports rows deleted per second, the longest and the 99th percentile
// chunk (writer wait included), and the ingest batch latency.
const (
	bigTx        = 2_000_000
	bigObsPerTx  = 3
	bigBuildStep = 100_000 // transmissions per build transaction
	ingestBatch  = 20      // packets per ingest batch
	ingestEvery  = 20 * time.Millisecond
)

func BenchmarkPrunePacketsBig(b *testing.B) {
	benchBig(b, func(b *testing.B, db *sqlite.DB, _ string, c maintenance.Chunking) jobs.Job {
		return &maintenance.PrunePackets{DB: db, Days: 30, Chunking: c}
	}, func(b *testing.B, _ *sqlite.DB, res jobs.Result) {
		if want := int64(bigTx * (1 + bigObsPerTx)); res.Rows != want {
			b.Fatalf("deleted %d rows, want %d", res.Rows, want)
		}
	})
}

// benchBig runs the job newJob makes, once per iteration, on a fresh copy
// of the big database (opened and migrated, untimed), while startIngest
// applies batches through the same writer. newJob (untimed) may prepare
// the copy; dir is the copy's directory and c the chunking to give the job,
// which records each chunk's time. check, when not nil, checks the result
// (untimed). It reports rows per second, the chunk durations (writer wait
// included) and the ingest batch latency. It is skipped unless
// CORESCOPE_BIG=1.
func benchBig(b *testing.B, newJob func(b *testing.B, db *sqlite.DB, dir string, c maintenance.Chunking) jobs.Job, check func(b *testing.B, db *sqlite.DB, res jobs.Result)) {
	if os.Getenv("CORESCOPE_BIG") == "" {
		b.Skip("set CORESCOPE_BIG=1 to build a 2M-transmission database")
	}
	src := bigDatabase(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		path := filepath.Join(dir, "big.db")
		copyFile(b, src, path)
		db, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		var times chunkTimes
		job := newJob(b, db, dir, maintenance.Chunking{OnChunk: times.record})
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
		if check != nil {
			check(b, db, res)
		}
		chunks := times.ds
		st, _ := os.Stat(path)
		b.ReportMetric(elapsed.Seconds(), "seconds")
		b.ReportMetric(float64(res.Rows)/elapsed.Seconds(), "rows/s")
		b.ReportMetric(float64(st.Size()>>20), "db_MiB")
		if len(chunks) > 0 {
			b.ReportMetric(float64(len(chunks)), "chunks")
			b.ReportMetric(ms(percentile(chunks, 0.99)), "p99_chunk_ms")
			b.ReportMetric(ms(percentile(chunks, 1)), "max_chunk_ms")
		}
		b.ReportMetric(float64(len(lat)), "ingest_batches")
		b.ReportMetric(ms(percentile(lat, 0.50)), "p50_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99_ingest_ms")
		b.ReportMetric(ms(percentile(lat, 1)), "max_ingest_ms")
		b.Logf("%d rows in %s: %.200s; %s", res.Rows, elapsed.Round(time.Millisecond), res.Detail, ingest.summary())
		if len(chunks) > 0 {
			b.Logf("first chunks: %v; slowest: %v", roundAll(chunks[:min(8, len(chunks))]), slowest(chunks, 6))
		}
		db.Close()
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// slowest lists the n slowest chunks as "#index=duration".
func slowest(ds []time.Duration, n int) []string {
	idx := make([]int, len(ds))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(ds[b] - ds[a]) })
	var out []string
	for _, i := range idx[:min(n, len(idx))] {
		out = append(out, fmt.Sprintf("#%d=%s", i, ds[i].Round(time.Millisecond)))
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// chunkTimes records how long each chunk of a job took (writer wait
// included); record is the job's Chunking.OnChunk. The job calls it from
// its own goroutine, so ds is read after Run returns.
type chunkTimes struct {
	ds []time.Duration
}

func (c *chunkTimes) record(_ int, took time.Duration) {
	c.ds = append(c.ds, took)
}

// ingestLoop applies a batch of new packets every ingestEvery and records
// how long each Apply took.
type ingestLoop struct {
	cancel context.CancelFunc
	done   chan struct{}
	lat    []time.Duration
	err    error
}

func startIngest(db *sqlite.DB) *ingestLoop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &ingestLoop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(ingestEvery)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			recs := make([]etl.Record, ingestBatch)
			for i := range recs {
				n++
				h := fmt.Sprintf("%016x", 1<<62+n)
				recs[i] = etl.Record{
					Kind:     etl.KindPacket,
					Time:     time.Now(),
					Observer: etl.Observer{ID: "OBS" + strconv.Itoa(n%10)},
					Packet: &etl.Packet{Hash: h, RawHex: "0A00" + h, RouteType: 1, PayloadType: 2,
						DecodedJSON: `{"type":"TXT_MSG"}`, PathJSON: "[]", ObsRawHex: "0A00" + h},
				}
			}
			t0 := time.Now()
			if _, err := db.Apply(ctx, recs); err != nil {
				if ctx.Err() == nil {
					l.err = err
				}
				return
			}
			l.lat = append(l.lat, time.Since(t0))
		}
	}()
	return l
}

func (l *ingestLoop) stop() []time.Duration {
	l.cancel()
	<-l.done
	return l.lat
}

func (l *ingestLoop) summary() string {
	if l.err != nil {
		return "ingest failed: " + l.err.Error()
	}
	return fmt.Sprintf("ingest batches=%d p50=%s p99=%s max=%s", len(l.lat),
		percentile(l.lat, 0.5).Round(time.Microsecond), percentile(l.lat, 0.99).Round(time.Microsecond),
		percentile(l.lat, 1).Round(time.Microsecond))
}

// bigDatabase returns the path of the cached big database, building it if
// needed: bigTx transmissions first seen in 2025 (one in three with
// milliseconds, like Node.js-era rows) with random hashes, bigObsPerTx
// observations each from 40 observers, with realistic row sizes.
func bigDatabase(b *testing.B) string {
	path := os.Getenv("CORESCOPE_BIG_DB")
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("corescope-big-v2-%d-%d.db", bigTx, bigObsPerTx))
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	b.Logf("building %s (%d transmissions, %d observations)…", path, bigTx, bigTx*bigObsPerTx)
	t0 := time.Now()
	tmp := path + ".building"
	os.Remove(tmp)
	ctx := context.Background()
	db, err := sqlite.Open(ctx, tmp, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for lo := 1; lo <= bigTx; lo += bigBuildStep {
		hi := min(lo+bigBuildStep-1, bigTx)
		err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
			// 2025-01-01T00:00:00Z + 5 s per packet: about 116 days, all
			// long before the benchmark's 30-day cutoff.
			if _, err := tx.ExecContext(ctx, `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
INSERT INTO transmissions (id, raw_hex, hash, first_seen, route_type, payload_type, payload_version, decoded_json, created_at)
SELECT i,
       '1500' || printf('%016X', i) || substr(hex(randomblob(60)), 1, 120),
       lower(hex(randomblob(8))), -- random, like the SHA-256 prefix
       CASE WHEN i % 3 = 0
            THEN strftime('%Y-%m-%dT%H:%M:%S', 1735689600 + i * 5, 'unixepoch') || '.' || printf('%03d', i % 1000) || 'Z'
            ELSE strftime('%Y-%m-%dT%H:%M:%SZ', 1735689600 + i * 5, 'unixepoch') END,
       1, i % 12, 0,
       '{"type":"GRP_TXT","channelHash":' || (i % 256) || ',"text":"benchmark message number ' || i || '"}',
       datetime(1735689600 + i * 5, 'unixepoch')
FROM s`, lo, hi); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2),
     o(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM o WHERE k < ?3)
INSERT INTO observations (transmission_id, observer_idx, direction, snr, rssi, score, path_json, timestamp, raw_hex)
SELECT i, 1 + (i + k * 7) % 40, 'rx', -5.5 + k, -90 - k, NULL,
       '["7D1D","DA2A","' || printf('%04X', i % 65536) || '"]',
       1735689600 + i * 5 + k,
       '1500' || printf('%016X', i) || substr(hex(randomblob(40)), 1, 80)
FROM s, o`, lo, hi, bigObsPerTx)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, _, _, err := db.CheckpointTruncate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	os.Remove(tmp + "-ingestor.lock")
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	b.Logf("built %s in %s: %d MiB", path, time.Since(t0).Round(time.Second), st.Size()>>20)
	return path
}

func copyFile(b testing.TB, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	// Flush the copy now: otherwise the first checkpoint's fsync writes
	// the whole file back and is billed to the first chunk.
	if err := out.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}
