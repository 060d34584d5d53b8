package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"testing/synctest"
	"time"
)

func TestWriterPerfByComponent(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	noop := func(context.Context, *sql.Tx) error { return nil }
	for range 3 {
		if err := db.WriteChunk(WithComponent(ctx, "pruneRequests"), noop); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.WriteChunk(ctx, noop); err != nil {
		t.Fatal(err)
	}

	perf := db.WriterPerf()
	if got := perf["pruneRequests"]; got.Count != 3 || got.ContentionTotal != 0 {
		t.Errorf("pruneRequests = %+v, want count 3, no contention", got)
	}
	if got := perf[ComponentMaintenance]; got.Count != 1 {
		t.Errorf("unlabelled chunk = %+v, want count 1 under %q", got, ComponentMaintenance)
	}
	for name, p := range perf {
		if p.WaitP50 > p.WaitP95 || p.WaitP95 > p.WaitP99 || p.WaitP99 > p.WaitMax ||
			p.HoldP50 > p.HoldP95 || p.HoldP95 > p.HoldP99 || p.HoldP99 > p.HoldMax {
			t.Errorf("%s: percentiles out of order: %+v", name, p)
		}
	}
}

// TestWriterGateContention counts a maintenance acquisition that yields to
// ingest, and an ingest acquisition that waits for a holder, as contended.
func TestWriterGateContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db := &DB{gate: newWriterGate()}
		g := &db.gate

		g.enterIngest()
		done := make(chan error)
		go func() { done <- g.acquireYielding(WithComponent(ctx, "job")) }()
		synctest.Wait() // the job is waiting for ingest to finish
		g.leaveIngest()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		go func() { done <- g.acquire(ctx) }()
		synctest.Wait()              // ingest is waiting for the job
		time.Sleep(time.Millisecond) // fake time: the job holds the writer 1 ms
		g.release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		g.release()

		if err := g.acquire(WithComponent(ctx, "job")); err != nil {
			t.Fatal(err)
		}
		g.release()

		perf := db.WriterPerf()
		if got := perf["job"]; got.Count != 2 || got.ContentionTotal != 1 || got.HoldMax != 1 {
			t.Errorf("job = %+v, want count 2, contention 1, hold max 1 ms", got)
		}
		if got := perf[ComponentIngest]; got.Count != 1 || got.ContentionTotal != 1 || got.WaitMax != 1 {
			t.Errorf("ingest = %+v, want count 1, contention 1, wait max 1 ms", got)
		}
	})
}

func TestQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if got, want := quantiles(ds), [4]float64{50, 95, 99, 100}; got != want {
		t.Errorf("quantiles(1..100 ms) = %v, want %v", got, want)
	}
	if got := quantiles(nil); got != [4]float64{} {
		t.Errorf("quantiles(nil) = %v, want zeros", got)
	}
	if got, want := quantiles([]time.Duration{1500 * time.Microsecond}), [4]float64{1.5, 1.5, 1.5, 1.5}; got != want {
		t.Errorf("quantiles(1.5 ms) = %v, want %v", got, want)
	}
}

// BenchmarkWriterGate measures one measured acquire/release of the writer.
func BenchmarkWriterGate(b *testing.B) {
	db := &DB{gate: newWriterGate()}
	ctx := WithComponent(context.Background(), "bench")
	for b.Loop() {
		if err := db.gate.acquire(ctx); err != nil {
			b.Fatal(err)
		}
		db.gate.release()
	}
}
