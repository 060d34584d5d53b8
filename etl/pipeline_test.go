package etl_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/waittest"
	"github.com/prometheus/client_golang/prometheus"
)

// recordingSink keeps what it was given, in memory. It tests the pipeline's
// batching and acknowledgement; the SQLite sink has its own tests.
type recordingSink struct {
	mu      sync.Mutex
	batches [][]etl.Record
	fail    func(recs []etl.Record) error
	gate    chan struct{} // when set, Apply waits for a token
	entered chan struct{} // when set, Apply signals here on entry
}

func (s *recordingSink) Apply(ctx context.Context, recs []etl.Record) (etl.ApplyResult, error) {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return etl.ApplyResult{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(recs); err != nil {
			return etl.ApplyResult{}, err
		}
	}
	s.batches = append(s.batches, append([]etl.Record(nil), recs...))
	return etl.ApplyResult{TxInserted: len(recs)}, nil
}

func (s *recordingSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		n += len(b)
	}
	return n
}

// oneRecord turns every message into one packet record carrying the topic.
var oneRecord = etl.TransformFunc(func(m *etl.Message, out []etl.Record) []etl.Record {
	if m.Topic == "skip" {
		return out
	}
	return append(out, etl.Record{Kind: etl.KindPacket, Observer: etl.Observer{ID: m.Topic}, Packet: &etl.Packet{}})
})

func TestPipelineAcksAfterCommitAndDrains(t *testing.T) {
	sink := &recordingSink{}
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 100, BatchSize: 10, Registerer: prometheus.NewRegistry()}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var mu sync.Mutex
	acked := 0
	ack := func() {
		mu.Lock()
		acked++
		mu.Unlock()
	}
	start := time.Now()
	for i := range 95 {
		topic := "obs"
		if i%19 == 0 {
			topic = "skip" // stores nothing but is still acknowledged
		}
		if err := p.Enqueue(ctx, etl.Message{Source: "a", Topic: topic, Received: time.Now(), Ack: ack}); err != nil {
			t.Fatal(err)
		}
	}
	cancel() // sources stopped: drain
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sink.count(); got != 95-5 {
		t.Fatalf("stored %d records, want 90", got)
	}
	if at := p.LastTaken("a"); at.Before(start) || !p.LastTaken("b").IsZero() {
		t.Errorf("LastTaken = %v (start %v), of an unknown source %v", at, start, p.LastTaken("b"))
	}
	mu.Lock()
	defer mu.Unlock()
	if acked != 95 {
		t.Fatalf("acked %d messages, want 95", acked)
	}
	for _, b := range sink.batches {
		if len(b) > 10 {
			t.Fatalf("batch of %d records exceeds the batch size", len(b))
		}
	}
}

func TestPipelineCommitsWhenQueueRunsDry(t *testing.T) {
	sink := &recordingSink{}
	p := etl.NewPipeline(etl.PipelineConfig{BatchSize: 1000, BatchDelay: time.Hour}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	acked := make(chan struct{}, 1)
	if err := p.Enqueue(ctx, etl.Message{Topic: "a", Received: time.Now(), Ack: func() { acked <- struct{}{} }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acked: // committed long before the hour-long batch delay
	case <-time.After(10 * time.Second):
		t.Fatal("a lone message was not committed")
	}
}

func TestPipelineGrowsBatchWhileCommitterBusy(t *testing.T) {
	sink := &recordingSink{gate: make(chan struct{}), entered: make(chan struct{}, 2)}
	p := etl.NewPipeline(etl.PipelineConfig{BatchSize: 1000, BatchDelay: time.Hour}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	p.Enqueue(ctx, etl.Message{Topic: "first"})
	<-sink.entered // the first batch is being committed
	for range 50 {
		p.Enqueue(ctx, etl.Message{Topic: "next"})
	}
	waittest.Until(t, waittest.Timeout, "queue collected", func() bool { return p.QueueLen() == 0 })
	sink.gate <- struct{}{} // first batch commits
	sink.gate <- struct{}{} // the rest in one batch
	cancel()
	close(sink.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(sink.batches) != 2 || len(sink.batches[1]) != 50 {
		sizes := []int{}
		for _, b := range sink.batches {
			sizes = append(sizes, len(b))
		}
		t.Fatalf("batch sizes %v, want [1 50]", sizes)
	}
}

func TestPipelineIsolatesPoisonRecord(t *testing.T) {
	sink := &recordingSink{fail: func(recs []etl.Record) error {
		for _, r := range recs {
			if r.Observer.ID == "poison" {
				return errors.New("constraint failed")
			}
		}
		return nil
	}}
	p := etl.NewPipeline(etl.PipelineConfig{BatchSize: 100}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	for _, topic := range []string{"a", "poison", "b"} {
		p.Enqueue(ctx, etl.Message{Topic: topic})
	}
	go func() { done <- p.Run(ctx) }()
	waittest.Until(t, waittest.Timeout, "good records stored", func() bool { return sink.count() == 2 })
	cancel()
	<-done
	if got := p.Stats().WriteErrors.Load(); got != 1 {
		t.Fatalf("write errors = %d, want 1", got)
	}
}

func TestEnqueueBlocksWhenFull(t *testing.T) {
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 1}, &recordingSink{}, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Enqueue(ctx, etl.Message{}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Enqueue(ctx, etl.Message{}) }()
	select {
	case err := <-errc:
		t.Fatalf("Enqueue on a full queue returned %v instead of blocking", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// At shutdown the sources hand over what paho still delivers with an already
// cancelled context: a message must be taken whenever the queue has room.
func TestEnqueueAfterCancelTakesMessageWhenRoom(t *testing.T) {
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 2}, &recordingSink{}, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 2 {
		if err := p.Enqueue(ctx, etl.Message{}); err != nil {
			t.Fatalf("message %d refused with room in the queue: %v", i, err)
		}
	}
	if err := p.Enqueue(ctx, etl.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("full queue, cancelled ctx: err = %v, want context.Canceled", err)
	}
}

func TestPipelineSurvivesTransformPanic(t *testing.T) {
	sink := &recordingSink{}
	tr := etl.TransformFunc(func(m *etl.Message, out []etl.Record) []etl.Record {
		out = append(out, etl.Record{Kind: etl.KindPacket, Packet: &etl.Packet{}})
		if m.Topic == "boom" {
			panic("unforeseen input")
		}
		return out
	})
	p := etl.NewPipeline(etl.PipelineConfig{}, sink, tr)
	ctx, cancel := context.WithCancel(context.Background())
	acked := 0
	for _, topic := range []string{"a", "boom", "b"} {
		p.Enqueue(ctx, etl.Message{Topic: topic, Ack: func() { acked++ }})
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waittest.Until(t, waittest.Timeout, "good records stored", func() bool { return sink.count() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acked != 3 {
		t.Fatalf("acked %d, want 3 (the panicking message is accounted for, not redelivered forever)", acked)
	}
}

func TestPipelineRetriesWholeBatchWhileStoreUnavailable(t *testing.T) {
	var mu sync.Mutex
	failures := 3
	sink := &recordingSink{fail: func(recs []etl.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return fmt.Errorf("apply batch: %w: disk full", etl.ErrUnavailable)
		}
		return nil
	}}
	p := etl.NewPipeline(etl.PipelineConfig{BatchSize: 100}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	var acked atomic.Int32
	for range 10 {
		p.Enqueue(ctx, etl.Message{Topic: "a", Ack: func() { acked.Add(1) }})
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waittest.Until(t, waittest.Timeout, "batch committed after the store came back", func() bool { return acked.Load() == 10 })
	cancel()
	<-done
	if got := sink.count(); got != 10 {
		t.Fatalf("stored %d records, want 10", got)
	}
	if len(sink.batches) != 1 {
		t.Fatalf("%d batches, want the whole batch retried as one", len(sink.batches))
	}
	if p.Stats().WriteErrors.Load() != 0 || p.Failing() {
		t.Fatalf("write errors %d, failing %v", p.Stats().WriteErrors.Load(), p.Failing())
	}
}

func TestPipelineDoesNotAckUncommittedBatchAtDrainDeadline(t *testing.T) {
	sink := &recordingSink{fail: func([]etl.Record) error {
		return fmt.Errorf("apply batch: %w: read-only", etl.ErrUnavailable)
	}}
	p := etl.NewPipeline(etl.PipelineConfig{DrainTimeout: time.Millisecond}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	var acked atomic.Int32
	p.Enqueue(ctx, etl.Message{Topic: "a", Ack: func() { acked.Add(1) }})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waittest.Until(t, waittest.Timeout, "writer failing", p.Failing)
	cancel() // the drain timeout expires with the store still down
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acked.Load() != 0 {
		t.Fatal("an uncommitted message was acknowledged")
	}
	if p.Stats().WriteErrors.Load() != 0 {
		t.Fatal("an unavailable store must not turn records into write errors")
	}
}

func TestBacklogCountsTheBatchBeingCommitted(t *testing.T) {
	sink := &recordingSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	p := etl.NewPipeline(etl.PipelineConfig{}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if p.Backlog() != 0 {
		t.Fatal("idle pipeline has a backlog")
	}
	p.Enqueue(ctx, etl.Message{Topic: "a", Received: time.Now().Add(-time.Hour)})
	<-sink.entered
	if b := p.Backlog(); b < time.Hour {
		t.Fatalf("backlog %s while an hour-old message is being committed", b)
	}
	sink.gate <- struct{}{}
	waittest.Until(t, waittest.Timeout, "backlog back to zero", func() bool { return p.Backlog() == 0 })
	cancel()
	close(sink.gate)
	<-done
}
