package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/corescope/etl/etl/waittest"
)

func ingestWaiting(db *DB) int {
	db.gate.mu.Lock()
	defer db.gate.mu.Unlock()
	return db.gate.ingest
}

// testYield checks that a maintenance call started while an Apply waits
// for the writer runs only after that Apply committed.
func testYield(t *testing.T, maintenance func(db *DB, ctx context.Context, check func(context.Context, func(string, ...any) *sql.Row)) error) {
	db := openTest(t)
	ctx := context.Background()

	// Chunk 1 holds the writer until released.
	holding, release := make(chan struct{}), make(chan struct{})
	chunk1 := make(chan error, 1)
	go func() {
		chunk1 <- db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding

	applied := make(chan error, 1)
	go func() {
		_, err := db.Apply(ctx, mixedBatch(4))
		applied <- err
	}()
	waittest.Until(t, waittest.Timeout, "the Apply to wait for the writer", func() bool { return ingestWaiting(db) == 1 })

	// Chunk 2 starts while the Apply waits: it must yield.
	sawTransmissions := make(chan int64, 1)
	chunk2 := make(chan error, 1)
	go func() {
		chunk2 <- maintenance(db, ctx, func(ctx context.Context, query func(string, ...any) *sql.Row) {
			var n int64
			query("SELECT count(*) FROM transmissions").Scan(&n)
			sawTransmissions <- n
		})
	}()
	close(release)
	if err := <-chunk1; err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if err := <-chunk2; err != nil {
		t.Fatal(err)
	}
	if n := <-sawTransmissions; n != 3 {
		t.Errorf("the second maintenance call saw %d transmissions: it ran before the waiting Apply", n)
	}
}

func TestWriteChunkYieldsToWaitingApply(t *testing.T) {
	testYield(t, func(db *DB, ctx context.Context, check func(context.Context, func(string, ...any) *sql.Row)) error {
		return db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
			check(ctx, func(q string, args ...any) *sql.Row { return tx.QueryRowContext(ctx, q, args...) })
			return nil
		})
	})
}

func TestWithWriteConnYieldsToWaitingApply(t *testing.T) {
	testYield(t, func(db *DB, ctx context.Context, check func(context.Context, func(string, ...any) *sql.Row)) error {
		return db.WithWriteConn(ctx, func(ctx context.Context, conn *sql.Conn) error {
			check(ctx, func(q string, args ...any) *sql.Row { return conn.QueryRowContext(ctx, q, args...) })
			return nil
		})
	})
}

func TestWriteChunkRollsBackOnError(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	errBoom := context.DeadlineExceeded
	err := db.WriteChunk(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_runs (job, started_at, result) VALUES ('x', 'now', 'ok')`); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("WriteChunk = %v", err)
	}
	if n := queryInt(t, db.Reader(), "SELECT count(*) FROM job_runs"); n != 0 {
		t.Errorf("rolled-back chunk left %d rows", n)
	}
}

func TestWriteChunkCanceledWhileYielding(t *testing.T) {
	db := openTest(t)
	db.gate.enterIngest() // an Apply that never finishes
	defer db.gate.leaveIngest()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := db.WriteChunk(ctx, func(context.Context, *sql.Tx) error { return nil })
	if err != context.DeadlineExceeded {
		t.Errorf("WriteChunk = %v, want the context's error", err)
	}
}
