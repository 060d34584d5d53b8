package etl_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/waittest"
	"github.com/prometheus/client_golang/prometheus"
)

func openSpool(t *testing.T, dir string, opts spool.Options) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// topics returns the observer ids of what sink stored, in order.
func (s *recordingSink) topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.batches {
		for _, r := range b {
			out = append(out, r.Observer.ID)
		}
	}
	return out
}

// enqueueNow enqueues m and fails the test if Enqueue blocks.
func enqueueNow(t *testing.T, p *etl.Pipeline, m etl.Message) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- p.Enqueue(context.Background(), m) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Enqueue blocked")
	}
}

// A stalled writer: what does not fit in the queue goes to the spool
// without blocking the source, QoS 1 messages are acknowledged once
// spooled, and everything is stored in order once the writer is back.
func TestPipelineSpoolsWhileWriterStalls(t *testing.T) {
	sink := &recordingSink{gate: make(chan struct{})}
	sp := openSpool(t, t.TempDir(), spool.Options{SegmentBytes: 4 << 10})
	reg := prometheus.NewRegistry()
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 10, BatchSize: 5, Spool: sp, Registerer: reg}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	const n = 500
	var acked atomic.Int64
	for i := range n {
		enqueueNow(t, p, etl.Message{Topic: fmt.Sprintf("m%03d", i), QoS: 1, Received: time.Now(), Ack: func() { acked.Add(1) }})
	}
	if !p.Spooling() {
		t.Fatal("not spooling with the writer stalled and the queue full")
	}
	// Everything beyond the queue and the two batches is acknowledged
	// once fsynced to the spool.
	waittest.Until(t, waittest.Timeout, "spooled messages acknowledged", func() bool { return acked.Load() >= n-10-2*5 })
	close(sink.gate)
	waittest.Until(t, waittest.Timeout, "everything stored", func() bool { return sink.count() == n })
	got := sink.topics()
	for i, topic := range got {
		if want := fmt.Sprintf("m%03d", i); topic != want {
			t.Fatalf("record %d is %s, want %s (order lost)", i, topic, want)
		}
	}
	waittest.Until(t, waittest.Timeout, "back to the queue", func() bool { return !p.Spooling() })
	// New messages go to the queue again.
	enqueueNow(t, p, etl.Message{Topic: "after", Received: time.Now()})
	waittest.Until(t, waittest.Timeout, "the message after the replay", func() bool { return sink.count() == n+1 })
	cancel()
	<-done
	if acked.Load() != n {
		t.Errorf("acked %d, want %d", acked.Load(), n)
	}
	if st := sp.Stats(); st.Unread != 0 || st.Bytes != 0 {
		t.Errorf("spool after replay and commit: %+v", st)
	}
	if p.Stats().Spooled.Load() == 0 {
		t.Error("no message counted as spooled")
	}
}

// With the spool full, messages are dropped and counted.
func TestPipelineDropsWhenSpoolFull(t *testing.T) {
	sink := &recordingSink{gate: make(chan struct{})}
	sp := openSpool(t, t.TempDir(), spool.Options{MaxBytes: 2000})
	reg := prometheus.NewRegistry()
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 2, BatchSize: 1, Spool: sp, Registerer: reg}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := range 200 {
		enqueueNow(t, p, etl.Message{Topic: fmt.Sprintf("m%d", i), Received: time.Now()})
	}
	lost := p.Stats().Lost.Load()
	if lost == 0 || p.LastDrop().IsZero() {
		t.Fatalf("lost = %d, last drop %v: nothing dropped with a 2000-byte spool", lost, p.LastDrop())
	}
	if !strings.Contains(gather(t, reg), `corescope_ingest_dropped_total{reason="spool_full"} `+fmt.Sprint(lost)) {
		t.Errorf("dropped metric does not say %d:\n%s", lost, gather(t, reg))
	}
	close(sink.gate)
	waittest.Until(t, waittest.Timeout, "what was kept is stored", func() bool { return uint64(sink.count())+lost == 200 })
	cancel()
	<-done
}

func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	var b strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Fprintf(&b, "%s %v\n", name, v)
		}
	}
	return b.String()
}

// The queue is bounded by bytes too: big messages go to the spool long
// before the message count is reached.
func TestPipelineQueueBoundedByBytes(t *testing.T) {
	sink := &recordingSink{gate: make(chan struct{})}
	sp := openSpool(t, t.TempDir(), spool.Options{})
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 10000, QueueBytes: 100 << 10, BatchSize: 1, Spool: sp}, sink, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	payload := make([]byte, 10<<10)
	for i := range 100 {
		enqueueNow(t, p, etl.Message{Topic: fmt.Sprintf("m%d", i), Payload: payload, Received: time.Now()})
	}
	if b := p.QueueBytes(); b > 100<<10 {
		t.Errorf("queue holds %d bytes, bound 100 KiB", b)
	}
	if p.QueueLen() > 10 || !p.Spooling() {
		t.Errorf("queue holds %d messages of 10 KiB (spooling %t); want at most 10 and the rest spooled", p.QueueLen(), p.Spooling())
	}
	close(sink.gate)
	waittest.Until(t, waittest.Timeout, "everything stored", func() bool { return sink.count() == 100 })
	cancel()
	<-done
}

// Admit rejects on arrival: the message is acknowledged and never queued.
func TestPipelineAdmit(t *testing.T) {
	sink := &recordingSink{}
	var rejected atomic.Int64
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 1, Admit: func(m *etl.Message) bool {
		if len(m.Payload) > 10 {
			rejected.Add(1)
			return false
		}
		return true
	}}, sink, oneRecord)
	acked := 0
	for range 5 {
		enqueueNow(t, p, etl.Message{Topic: "big", Payload: make([]byte, 1<<20), Ack: func() { acked++ }})
	}
	if p.QueueLen() != 0 || rejected.Load() != 5 || acked != 5 {
		t.Errorf("queue %d, rejected %d, acked %d; want 0, 5, 5", p.QueueLen(), rejected.Load(), acked)
	}
}

// At the drain deadline with the writer stalled, what was not committed is
// spooled, and the next run stores it first, in order.
func TestPipelineSpoolsAtDrainDeadline(t *testing.T) {
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stalled := &recordingSink{gate: make(chan struct{})}
	defer close(stalled.gate)
	p := etl.NewPipeline(etl.PipelineConfig{QueueSize: 20, BatchSize: 5, Spool: sp, DrainTimeout: time.Millisecond}, stalled, oneRecord)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	const n = 100
	for i := range n {
		enqueueNow(t, p, etl.Message{Topic: fmt.Sprintf("m%03d", i), Received: time.Now()})
	}
	cancel() // the drain timeout expires with the writer still stalled
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sum := p.Summary()
	if sum.Committed != 0 || sum.Spooled != n || sum.Lost != 0 {
		t.Errorf("summary = %+v, want 0 committed, %d spooled, 0 lost", sum, n)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}

	// The next start.
	sp = openSpool(t, dir, spool.Options{})
	sink := &recordingSink{}
	p = etl.NewPipeline(etl.PipelineConfig{QueueSize: 20, BatchSize: 5, Spool: sp}, sink, oneRecord)
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	enqueueNow(t, p, etl.Message{Topic: "new", Received: time.Now()})
	waittest.Until(t, waittest.Timeout, "the spool and the new message stored", func() bool { return sink.count() >= n+1 })
	t.Logf("spool %+v spooling %v queue %d", sp.Stats(), p.Spooling(), p.QueueLen())
	cancel()
	<-done
	got := sink.topics()
	if len(got) != n+1 || got[n] != "new" {
		t.Fatalf("stored %d records, last %q; want %d and the new message last", len(got), got[len(got)-1], n+1)
	}
	for i := range n {
		if want := fmt.Sprintf("m%03d", i); got[i] != want {
			t.Fatalf("record %d = %s, want %s", i, got[i], want)
		}
	}
}
