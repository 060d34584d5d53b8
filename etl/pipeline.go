package etl

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pipeline defaults.
const (
	DefaultQueueSize  = 200000                 // messages buffered between the sources and the writer
	DefaultBatchSize  = 2000                   // records per transaction, at most
	DefaultBatchDelay = 100 * time.Millisecond // longest a record waits for its commit while messages keep arriving
	// maxRecordAttempts is how often one record that fails on its own is
	// retried before it is counted as a write error and skipped.
	maxRecordAttempts = 5
)

// Transformer turns one message into the records to store. It returns out
// with the records appended; a message that stores nothing (filtered,
// ignored, malformed but not kept) appends none and is accounted for by the
// transformer itself (a metric with a reason). Transform must not block.
type Transformer interface {
	Transform(m *Message, out []Record) []Record
}

// TransformFunc adapts a function to Transformer.
type TransformFunc func(m *Message, out []Record) []Record

// Transform calls f.
func (f TransformFunc) Transform(m *Message, out []Record) []Record { return f(m, out) }

// PipelineConfig tunes a Pipeline. Zero values take the defaults.
type PipelineConfig struct {
	QueueSize  int           // messages; default DefaultQueueSize
	BatchSize  int           // records per transaction; default DefaultBatchSize
	BatchDelay time.Duration // default DefaultBatchDelay
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Pipeline moves messages from the sources to the sink: a bounded queue that
// the sources fill (blocking when it is full), a transform stage, and one
// committer that applies batches to the sink, then acknowledges the batch's
// messages. Messages are never dropped by the pipeline itself.
type Pipeline struct {
	cfg   PipelineConfig
	sink  Sink
	tr    Transformer
	log   *slog.Logger
	queue chan Message
	m     *pipelineMetrics

	// Counters for the stats file and the health checks, since start.
	stats Counters

	failing    atomic.Bool  // the store is unavailable; a batch is being retried
	lastCommit atomic.Int64 // unix nanos of the last successful commit
	// Receipt times (unix nanos) of the first message of the batch being
	// committed and of the batch being collected; 0 when there is none.
	// Every message still queued arrived after both.
	committing atomic.Int64
	collecting atomic.Int64
}

// Counters are the pipeline's monotonic counters since the process started.
type Counters struct {
	Messages        atomic.Uint64 // messages taken from the queue
	TxInserted      atomic.Uint64
	TxDupes         atomic.Uint64
	ObsInserted     atomic.Uint64
	ObsDupes        atomic.Uint64
	NodeUpserts     atomic.Uint64
	ObserverUpserts atomic.Uint64
	MetricsRows     atomic.Uint64
	Dropped         atomic.Uint64
	WriteErrors     atomic.Uint64
	Commits         atomic.Uint64
}

// NewPipeline returns a pipeline writing to sink through tr.
func NewPipeline(cfg PipelineConfig, sink Sink, tr Transformer) *Pipeline {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchDelay <= 0 {
		cfg.BatchDelay = DefaultBatchDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		cfg:   cfg,
		sink:  sink,
		tr:    tr,
		log:   cfg.Logger,
		queue: make(chan Message, cfg.QueueSize),
	}
	p.m = newPipelineMetrics(p, cfg.Registerer)
	return p
}

// Stats returns the pipeline's counters. The values are live.
func (p *Pipeline) Stats() *Counters { return &p.stats }

// QueueLen returns the number of messages waiting in the queue.
func (p *Pipeline) QueueLen() int { return len(p.queue) }

// QueueCap returns the queue's capacity in messages.
func (p *Pipeline) QueueCap() int { return cap(p.queue) }

// LastCommit returns when the last batch was committed (zero if never).
func (p *Pipeline) LastCommit() time.Time { return unixNanoTime(p.lastCommit.Load()) }

// Backlog returns how long the oldest message not yet committed has been
// waiting since it was received (0 when the writer is idle).
func (p *Pipeline) Backlog() time.Duration {
	oldest := p.committing.Load()
	if c := p.collecting.Load(); oldest == 0 || (c != 0 && c < oldest) {
		oldest = c
	}
	if oldest == 0 {
		return 0
	}
	return time.Since(time.Unix(0, oldest))
}

func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Enqueue adds m to the queue. It blocks while the queue is full
// (back-pressure to the broker; the sources measure the time blocked) and
// fails only when ctx is done. A message is always taken while the queue
// has room, even when ctx is done: the sources keep delivering what the
// broker sent until they disconnect, and the drain stores it.
func (p *Pipeline) Enqueue(ctx context.Context, m Message) error {
	select {
	case p.queue <- m:
		return nil
	default:
	}
	select {
	case p.queue <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch is the unit of one transaction.
type batch struct {
	recs     []Record
	acks     []func()
	received []time.Time // publish (or receipt) time per message, for the commit lag
	msgs     int
	started  time.Time // when the first message was taken from the queue
	head     time.Time // receipt of the first message
}

func (b *batch) reset() {
	clear(b.recs) // drop references to payload-derived data
	b.recs = b.recs[:0]
	clear(b.acks)
	b.acks = b.acks[:0]
	b.received = b.received[:0]
	b.msgs = 0
	b.started = time.Time{}
	b.head = time.Time{}
}

// Run transforms and commits until ctx is done, then drains: every message
// already in the queue is transformed, committed and acknowledged before Run
// returns. The caller stops the sources first and cancels ctx after them, so
// that the drain sees every message they delivered. drainCtx bounds the
// drain: when it is done, Run returns at once (unacknowledged QoS 1 messages
// are redelivered by the broker on the next start).
func (p *Pipeline) Run(ctx, drainCtx context.Context) error {
	full := make(chan *batch)    // to the committer; unbuffered: a send succeeds only when it is idle
	free := make(chan *batch, 2) // back from the committer
	for range 2 {
		free <- &batch{
			recs:     make([]Record, 0, p.cfg.BatchSize),
			received: make([]time.Time, 0, p.cfg.BatchSize),
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range full {
			p.committing.Store(b.head.UnixNano())
			p.commit(drainCtx, b)
			p.committing.Store(0)
			b.reset()
			free <- b
		}
	}()
	err := p.collect(ctx, drainCtx, full, free)
	close(full)
	wg.Wait()
	return err
}

// collect fills batches from the queue. A batch is handed to the committer
// as soon as the queue runs dry, when it holds BatchSize records, or when its
// first record has waited BatchDelay; while the committer is busy the current
// batch keeps growing up to BatchSize.
func (p *Pipeline) collect(ctx, drainCtx context.Context, full chan<- *batch, free <-chan *batch) error {
	var b *batch
	draining := false
	var timer *time.Timer
	for {
		if b == nil {
			select {
			case b = <-free:
			case <-drainCtx.Done():
				return nil
			}
		}
		// Wait for the first message of the batch.
		if b.msgs == 0 {
			p.collecting.Store(0)
			if draining {
				select {
				case m := <-p.queue:
					p.add(b, &m)
				default:
					return nil // drained
				}
			} else {
				select {
				case m := <-p.queue:
					p.add(b, &m)
				case <-ctx.Done():
					draining = true
					continue
				}
			}
		}
		// Take what is already queued, up to the batch size.
		dry := false
		for !p.isFull(b) && !dry {
			select {
			case m := <-p.queue:
				p.add(b, &m)
			default:
				dry = true
			}
		}
		if !dry || draining {
			// Full, or draining: hand over (waits for the committer).
			if !p.isFull(b) && draining && len(p.queue) > 0 {
				continue
			}
			select {
			case full <- b:
				b = nil
			case <-drainCtx.Done():
				return nil
			}
			continue
		}
		// The queue ran dry: commit now if the committer is free, else keep
		// collecting until it is, the batch is full, or the delay expires.
		if timer == nil {
			timer = time.NewTimer(p.cfg.BatchDelay)
		} else {
			timer.Reset(p.cfg.BatchDelay - time.Since(b.started))
		}
	wait:
		for {
			select {
			case full <- b:
				b = nil
				break wait
			case m := <-p.queue:
				p.add(b, &m)
				if p.isFull(b) {
					break wait
				}
			case <-timer.C:
				// Delay expired with the committer still busy: block on it.
				select {
				case full <- b:
					b = nil
				case <-drainCtx.Done():
					return nil
				}
				break wait
			case <-ctx.Done():
				draining = true
				break wait
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// isFull reports whether b reached the batch size, in records or messages.
func (p *Pipeline) isFull(b *batch) bool {
	return len(b.recs) >= p.cfg.BatchSize || b.msgs >= p.cfg.BatchSize
}

// add transforms one message into b.
func (p *Pipeline) add(b *batch, m *Message) {
	if b.msgs == 0 {
		b.started = time.Now()
		b.head = m.Received
		if b.head.IsZero() {
			b.head = b.started
		}
		p.collecting.Store(b.head.UnixNano())
	}
	p.stats.Messages.Add(1)
	n := len(b.recs)
	b.recs = p.transform(m, b.recs)
	b.msgs++
	// The lag starts at the publisher's timestamp when the transformer
	// trusted it for the record (it is then earlier than the receipt),
	// otherwise at the receipt.
	start := m.Received
	if len(b.recs) > n {
		if t := b.recs[len(b.recs)-1].Time; !t.IsZero() && t.Before(start) {
			start = t
		}
	}
	b.received = append(b.received, start)
	if m.Ack != nil {
		b.acks = append(b.acks, m.Ack)
	}
}

// transform runs the transformer, turning a panic on some unforeseen input
// into a counted, logged rejection instead of a crash: the message stores
// nothing, and records it appended before panicking are discarded.
func (p *Pipeline) transform(m *Message, out []Record) (res []Record) {
	n := len(out)
	defer func() {
		if r := recover(); r != nil {
			p.m.panics.Inc()
			p.log.Error("transform panicked; message not stored", "source", m.Source, "topic", m.Topic, "payload_bytes", len(m.Payload), "panic", r)
			clear(out[n:])
			res = out[:n]
		}
	}()
	return p.tr.Transform(m, out)
}

// commit applies b in one transaction, then acknowledges its messages.
// While the store is unavailable (etl.ErrUnavailable: disk full, read-only,
// I/O errors) the whole batch is retried with backoff, nothing is skipped
// and Failing reports true. Any other failure is retried record by record:
// a record that fails on its own maxRecordAttempts times is counted as a
// write error and skipped, so that one poisonous record cannot stop ingest.
// If ctx ends (the drain deadline) before the batch is committed, its
// messages are not acknowledged: the broker redelivers QoS 1 messages on the
// next start, and the writes are idempotent.
func (p *Pipeline) commit(ctx context.Context, b *batch) {
	if len(b.recs) > 0 {
		start := time.Now()
		res, err := p.applyBatch(ctx, b.recs)
		if err != nil && ctx.Err() == nil {
			p.m.batches.WithLabelValues("error").Inc()
			p.log.Error("commit batch failed; retrying record by record", "records", len(b.recs), "err", err)
			res, err = p.applyEach(ctx, b.recs)
		} else if err == nil {
			p.m.batches.WithLabelValues("ok").Inc()
			p.m.commitDuration.Observe(time.Since(start).Seconds())
		}
		p.account(res)
		if err != nil {
			p.log.Warn("batch not committed before shutdown; its messages are not acknowledged", "messages", b.msgs, "err", err)
			return
		}
		p.m.batchRecords.Observe(float64(len(b.recs)))
	}
	now := time.Now()
	p.lastCommit.Store(now.UnixNano())
	p.stats.Commits.Add(1)
	for _, t := range b.received {
		p.m.lag.Observe(now.Sub(t).Seconds())
	}
	for _, ack := range b.acks {
		ack()
	}
}

// applyBatch applies recs, retrying for as long as the store is
// unavailable. It returns the last error when ctx ends first, or the first
// error that is not about availability.
func (p *Pipeline) applyBatch(ctx context.Context, recs []Record) (ApplyResult, error) {
	backoff := 100 * time.Millisecond
	for {
		res, err := p.sink.Apply(ctx, recs)
		if err == nil || !errors.Is(err, ErrUnavailable) {
			p.setFailing(false, nil)
			return res, err
		}
		p.m.batches.WithLabelValues("error").Inc()
		p.setFailing(true, err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return res, err
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// setFailing records whether the store is unavailable, logging the changes.
func (p *Pipeline) setFailing(failing bool, err error) {
	if p.failing.Swap(failing) == failing {
		return
	}
	if failing {
		p.log.Error("store unavailable; retrying the batch until it commits", "err", err)
	} else {
		p.log.Info("store available again")
	}
}

// Failing reports whether the store is currently unavailable (the writer is
// retrying a batch).
func (p *Pipeline) Failing() bool { return p.failing.Load() }

// applyEach applies recs one at a time after a batch failed. It returns an
// error only when ctx ends first.
func (p *Pipeline) applyEach(ctx context.Context, recs []Record) (ApplyResult, error) {
	var total ApplyResult
	for i := range recs {
		one := recs[i : i+1]
		backoff := 50 * time.Millisecond
		for attempt := 1; ; attempt++ {
			res, err := p.applyBatch(ctx, one)
			if err == nil {
				total.Add(res)
				break
			}
			if ctx.Err() != nil {
				return total, err
			}
			if attempt >= maxRecordAttempts {
				p.stats.WriteErrors.Add(1)
				p.m.writeErrors.Inc()
				p.log.Error("record not stored", "kind", recs[i].Kind.String(), "observer", recs[i].Observer.ID, "err", err)
				break
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return total, ctx.Err()
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}
	return total, nil
}

func (p *Pipeline) account(r ApplyResult) {
	s := &p.stats
	s.TxInserted.Add(uint64(r.TxInserted))
	s.TxDupes.Add(uint64(r.TxDupes))
	s.ObsInserted.Add(uint64(r.ObsInserted))
	s.ObsDupes.Add(uint64(r.ObsDupes))
	s.NodeUpserts.Add(uint64(r.NodeUpserts))
	s.ObserverUpserts.Add(uint64(r.ObserverUpserts))
	s.MetricsRows.Add(uint64(r.MetricsRows))
	s.Dropped.Add(uint64(r.Dropped))
	m := p.m
	m.written.WithLabelValues("transmissions").Add(float64(r.TxInserted))
	m.written.WithLabelValues("observations").Add(float64(r.ObsInserted))
	m.written.WithLabelValues("nodes").Add(float64(r.NodeUpserts))
	m.written.WithLabelValues("observers").Add(float64(r.ObserverUpserts))
	m.written.WithLabelValues("observer_metrics").Add(float64(r.MetricsRows))
	m.written.WithLabelValues("dropped_packets").Add(float64(r.Dropped))
	m.dupes.WithLabelValues("transmission").Add(float64(r.TxDupes))
	m.dupes.WithLabelValues("observation").Add(float64(r.ObsDupes))
}

type pipelineMetrics struct {
	batches        *prometheus.CounterVec
	commitDuration prometheus.Histogram
	batchRecords   prometheus.Histogram
	lag            prometheus.Histogram
	written        *prometheus.CounterVec
	dupes          *prometheus.CounterVec
	writeErrors    prometheus.Counter
	panics         prometheus.Counter
}

func newPipelineMetrics(p *Pipeline, reg prometheus.Registerer) *pipelineMetrics {
	m := &pipelineMetrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_batches_total",
			Help: "Batches applied to the database, by result.",
		}, []string{"result"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corescope_ingest_commit_duration_seconds",
			Help:    "Time to apply and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corescope_ingest_batch_records",
			Help:    "Records per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corescope_ingest_commit_lag_seconds",
			Help:    "Time from publishing (the uplink's timestamp, when trusted) or else receiving a message to committing its batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_rows_written_total",
			Help: "Rows inserted or upserted, by table.",
		}, []string{"table"}),
		dupes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_duplicates_total",
			Help: "Records that matched an existing row, by kind.",
		}, []string{"kind"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_write_errors_total",
			Help: "Records that could not be stored after retries.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_ingest_transform_panics_total",
			Help: "Messages whose transformation panicked (a bug; the message is not stored).",
		}),
	}
	if reg == nil {
		return m
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_queue_depth",
		Help: "Messages waiting in the ingest queue.",
	}, func() float64 { return float64(p.QueueLen()) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_queue_capacity",
		Help: "Capacity of the ingest queue in messages.",
	}, func() float64 { return float64(p.QueueCap()) })
	last := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_last_commit_timestamp_seconds",
		Help: "Unix time of the last committed batch.",
	}, func() float64 {
		t := p.lastCommit.Load()
		return float64(t) / 1e9
	})
	reg.MustRegister(m.batches, m.commitDuration, m.batchRecords, m.lag, m.written, m.dupes, m.writeErrors, m.panics, depth, capacity, last)
	return m
}
