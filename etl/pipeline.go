package etl

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corescope/etl/etl/spool"
)

// Pipeline defaults.
const (
	DefaultQueueSize  = 200000                 // messages buffered between the sources and the writer
	DefaultBatchSize  = 1000                   // records per transaction, at most
	DefaultBatchDelay = 100 * time.Millisecond // longest a record waits for its commit while messages keep arriving
	DefaultQueueBytes = 64 << 20               // bytes of queued messages (payload, topic and msgOverhead each)
	// msgOverhead is what one queued message costs beyond its payload and
	// topic (the Message, paho's message and the acknowledgement closure),
	// in bytes, for the queue's byte bound.
	msgOverhead = 256
	// maxBatchBytes bounds the messages one batch holds (they are kept
	// until the batch commits), in the same measure as QueueBytes.
	maxBatchBytes = 8 << 20
	// dropLogEvery rate-limits the log line about dropped messages.
	dropLogEvery = 10 * time.Second
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
	QueueBytes int64         // bytes (payload, topic and msgOverhead per message); default DefaultQueueBytes
	BatchSize  int           // records per transaction; default DefaultBatchSize
	BatchDelay time.Duration // default DefaultBatchDelay
	// DrainTimeout bounds the drain once Run's ctx is done: what is not
	// committed by then is spooled (see Run). 0 means no bound: the drain
	// commits everything queued.
	DrainTimeout time.Duration
	// Spool takes the messages that do not fit in the queue, and at the
	// drain deadline those not committed. The caller opens and closes it.
	// Nil: Enqueue blocks while the queue is full.
	Spool *spool.Spool
	// Admit screens a message on arrival, before it is queued, on the
	// source's goroutine (it must be safe for concurrent use and must not
	// block): false rejects it, and Admit counts it. The message is then
	// acknowledged. Nil admits everything.
	Admit      func(m *Message) bool
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered
}

// Pipeline moves messages from the sources to the sink: a queue bounded by
// messages and bytes that the sources fill, an on-disk spool that takes
// what does not fit (and, once the spool holds something, everything after
// it, so that order is kept until it is replayed), a transform stage, and
// one committer that applies batches to the sink, then acknowledges the
// batch's messages. A message is dropped only when the spool is full (or
// failing), and then counted with the reason.
type Pipeline struct {
	cfg   PipelineConfig
	sink  Sink
	tr    Transformer
	log   *slog.Logger
	queue chan Message
	spool *spool.Spool
	m     *pipelineMetrics

	// mu serialises the producers: the queue's bounds and the switch to
	// and from the spool are decided under it.
	mu       sync.Mutex
	spooling bool          // new messages go to the spool (it holds unread records); under mu
	queued   atomic.Int64  // bytes in the queue
	room     chan struct{} // signalled when the collector takes from the queue (Enqueue without a spool waits on it)
	lastDrop atomic.Int64  // unix nanos of the last dropped message; 0 = none
	dropLog  atomic.Int64  // unix nanos of the last drop log line
	// leftSpool counts the spool's records that were read but not
	// committed by the drain deadline (they are read again on the next
	// start); set by Run before it returns.
	leftSpool atomic.Int64

	// Counters for the stats file and the health checks, since start.
	stats Counters

	failing    atomic.Bool  // the store is unavailable; a batch is being retried
	lastCommit atomic.Int64 // unix nanos of the last successful commit
	// Receipt times (unix nanos) of the first message of the batch being
	// committed and of the batch being collected; 0 when there is none.
	// Every message still queued arrived after both.
	committing atomic.Int64
	collecting atomic.Int64
	// taken maps a source name to the unix nanoseconds the write path
	// last took one of its messages (*atomic.Int64).
	taken sync.Map
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
	Dropped         atomic.Uint64 // dropped_packets rows
	WriteErrors     atomic.Uint64
	Commits         atomic.Uint64
	Committed       atomic.Uint64 // messages of committed batches
	Spooled         atomic.Uint64 // messages written to the spool
	Lost            atomic.Uint64 // messages dropped: spool full or failing
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
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
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
		spool: cfg.Spool,
		room:  make(chan struct{}, 1),
	}
	// A spool left with records by an earlier run is replayed first.
	p.spooling = p.spool != nil && p.spool.Stats().Unread > 0
	p.m = newPipelineMetrics(p, cfg.Registerer)
	return p
}

// Stats returns the pipeline's counters. The values are live.
func (p *Pipeline) Stats() *Counters { return &p.stats }

// QueueLen returns the number of messages waiting in the queue.
func (p *Pipeline) QueueLen() int { return len(p.queue) }

// LogSummary logs msg with the counters of Stats and the queue length, and
// extra attributes (key, value pairs).
func (p *Pipeline) LogSummary(msg string, extra ...any) {
	s := &p.stats
	p.log.Info(msg, append([]any{
		"messages", s.Messages.Load(),
		"tx_inserted", s.TxInserted.Load(),
		"tx_dupes", s.TxDupes.Load(),
		"obs_inserted", s.ObsInserted.Load(),
		"node_upserts", s.NodeUpserts.Load(),
		"observer_upserts", s.ObserverUpserts.Load(),
		"dropped", s.Dropped.Load(),
		"write_errors", s.WriteErrors.Load(),
		"queue", p.QueueLen(),
	}, extra...)...)
}

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

// QueueBytes returns the bytes of the messages in the queue.
func (p *Pipeline) QueueBytes() int64 { return p.queued.Load() }

// Spooling reports whether new messages go to the spool.
func (p *Pipeline) Spooling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spooling
}

// LastDrop returns when a message was last dropped because the spool was
// full or failing (zero if never).
func (p *Pipeline) LastDrop() time.Time { return unixNanoTime(p.lastDrop.Load()) }

// msgSize is what m counts against the queue's byte bound.
func msgSize(m *Message) int64 { return int64(len(m.Payload)+len(m.Topic)) + msgOverhead }

// Enqueue hands m to the pipeline. It never blocks when the pipeline has a
// spool: m is screened by Admit, then queued if the queue has room in
// messages and bytes and the spool holds nothing unread, else appended to
// the spool (a QoS 1 message is then acknowledged once the spool is
// fsynced), else, with the spool full, dropped and counted (a QoS 1
// message is not acknowledged, so that the broker can deliver it again).
// Without a spool it blocks while the queue is full (back-pressure) and
// fails only when ctx is done. A message is always taken while the queue
// has room, even when ctx is done: the sources keep delivering what the
// broker sent until they disconnect, and the drain stores it.
func (p *Pipeline) Enqueue(ctx context.Context, m Message) error {
	if p.cfg.Admit != nil && !p.cfg.Admit(&m) {
		if m.Ack != nil {
			m.Ack()
		}
		return nil
	}
	size := msgSize(&m)
	for {
		p.mu.Lock()
		if !p.spooling && len(p.queue) < cap(p.queue) && (len(p.queue) == 0 || p.queued.Load()+size <= p.cfg.QueueBytes) {
			// Only producers send, under mu: the send cannot block.
			p.queued.Add(size)
			p.queue <- m
			p.mu.Unlock()
			return nil
		}
		if p.spool != nil {
			break
		}
		p.mu.Unlock()
		select {
		case <-p.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Everything after a spooled message is spooled too, until the spool
	// is replayed, to keep the order.
	if !p.spooling {
		p.spooling = true
		p.m.spooling.Set(1)
		p.log.Warn("ingest queue full; spooling to disk", "queue", len(p.queue), "queue_bytes", p.queued.Load(), "dir", p.spool.Dir())
	}
	r := toSpool(&m)
	err := p.spool.Append(&r, m.Ack)
	p.mu.Unlock()
	if err != nil {
		p.drop(&m, err)
		return nil
	}
	p.stats.Spooled.Add(1)
	return nil
}

// drop counts a message the spool did not take.
func (p *Pipeline) drop(m *Message, err error) {
	reason := "spool_error"
	if errors.Is(err, spool.ErrFull) {
		reason = "spool_full"
	}
	p.m.dropped.WithLabelValues(reason).Inc()
	p.stats.Lost.Add(1)
	now := time.Now().UnixNano()
	p.lastDrop.Store(now)
	if last := p.dropLog.Load(); now-last >= int64(dropLogEvery) && p.dropLog.CompareAndSwap(last, now) {
		p.log.Error("message dropped: the ingest queue and the spool are full", "reason", reason, "source", m.Source,
			"qos", m.QoS, "dropped_total", p.stats.Lost.Load(), "err", err)
	}
}

func toSpool(m *Message) spool.Record {
	return spool.Record{Source: m.Source, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retained, Received: m.Received}
}

func fromSpool(r *spool.Record) Message {
	return Message{Source: r.Source, Topic: r.Topic, Payload: r.Payload, QoS: r.QoS, Retained: r.Retain, Received: r.Received}
}

// batch is the unit of one transaction.
type batch struct {
	recs     []Record
	acks     []func()
	received []time.Time // publish (or receipt) time per message, for the commit lag
	msgs     int
	bytes    int64     // msgSize of its messages
	started  time.Time // when the first message was taken from the queue
	head     time.Time // receipt of the first message
	// mem holds the messages taken from the queue, in order, until the
	// batch commits: at the drain deadline they are spooled.
	mem []Message
	// The spool's records in the batch: how many, and the position after
	// the last one (committed to the spool with the batch).
	spoolN   int
	spoolEnd spool.Pos
}

func (b *batch) reset() {
	clear(b.recs) // drop references to payload-derived data
	b.recs = b.recs[:0]
	clear(b.acks)
	b.acks = b.acks[:0]
	b.received = b.received[:0]
	clear(b.mem)
	b.mem = b.mem[:0]
	b.msgs = 0
	b.bytes = 0
	b.spoolN = 0
	b.spoolEnd = spool.Pos{}
	b.started = time.Time{}
	b.head = time.Time{}
}

// Run transforms and commits until ctx is done, then drains: every message
// already in the queue is transformed, committed and acknowledged before Run
// returns. The caller stops the sources first and cancels ctx after them, so
// that the drain sees every message they delivered. The drain does not
// replay the spool (what it holds is durable). DrainTimeout bounds the
// drain: when it expires, the messages taken from the queue and not
// committed are written to the spool, to be stored on the next start
// (without a spool, unacknowledged QoS 1 messages are redelivered by the
// broker and QoS 0 ones are lost, counted in Lost), and Run returns.
func (p *Pipeline) Run(ctx context.Context) error {
	drainCtx, stopDrain := p.drainDeadline(ctx)
	defer stopDrain()
	full := make(chan *batch)    // to the committer; unbuffered: a send succeeds only when it is idle
	free := make(chan *batch, 2) // back from the committer
	for range 2 {
		free <- &batch{
			recs:     make([]Record, 0, p.cfg.BatchSize),
			received: make([]time.Time, 0, p.cfg.BatchSize),
		}
	}
	var failed []*batch // not committed by the drain deadline, in order
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for b := range full {
			p.committing.Store(b.head.UnixNano())
			ok := p.commit(drainCtx, b)
			p.committing.Store(0)
			if !ok {
				failed = append(failed, b)
				continue
			}
			b.reset()
			free <- b // never blocks: there are two batches
		}
	}()
	cur := p.collect(ctx, drainCtx, full, free)
	close(full)
	wg.Wait()
	p.collecting.Store(0)
	if cur != nil && cur.msgs > 0 {
		failed = append(failed, cur)
	}
	p.spoolLeftovers(failed)
	return nil
}

// drainDeadline returns the context of the drain: it ends DrainTimeout
// after ctx (never, with no DrainTimeout), or when stop is called.
func (p *Pipeline) drainDeadline(ctx context.Context) (drainCtx context.Context, stop context.CancelFunc) {
	drainCtx, stop = context.WithCancel(context.WithoutCancel(ctx))
	if p.cfg.DrainTimeout <= 0 {
		return drainCtx, stop
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-drainCtx.Done():
			return
		}
		t := time.NewTimer(p.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			p.log.Warn("drain timeout: not every queued message was committed", "timeout", p.cfg.DrainTimeout)
			stop()
		case <-drainCtx.Done():
		}
	}()
	return drainCtx, stop
}

// spoolLeftovers writes to the spool the messages of the batches that were
// not committed by the drain deadline and those still queued.
func (p *Pipeline) spoolLeftovers(failed []*batch) {
	var mem []Message
	fromSpool := 0
	for _, b := range failed {
		mem = append(mem, b.mem...)
		fromSpool += b.spoolN
	}
	for len(p.queue) > 0 {
		m := <-p.queue
		p.queued.Add(-msgSize(&m))
		mem = append(mem, m)
	}
	p.leftSpool.Store(int64(fromSpool))
	if len(mem) == 0 {
		return
	}
	if p.spool == nil {
		qos0 := 0
		for i := range mem {
			if mem[i].Ack == nil {
				qos0++
			}
		}
		p.stats.Lost.Add(uint64(qos0))
		p.log.Error("drain deadline: messages not committed; QoS 1 ones are redelivered by the broker, QoS 0 ones are lost",
			"messages", len(mem), "lost", qos0)
		return
	}
	recs := make([]spool.Record, len(mem))
	for i := range mem {
		recs[i] = toSpool(&mem[i])
	}
	// The queued messages are older than what the spool has not replayed
	// yet, and newer than the spool's records already read.
	var err error
	if p.spool.Stats().Unread > 0 {
		err = p.spool.Prepend(recs)
	} else {
		err = p.spool.AppendSegment(recs)
	}
	if err != nil {
		p.stats.Lost.Add(uint64(len(mem)))
		p.m.dropped.WithLabelValues("spool_error").Add(float64(len(mem)))
		p.log.Error("drain deadline: messages not committed could not be spooled; QoS 1 ones are redelivered by the broker, QoS 0 ones are lost",
			"messages", len(mem), "err", err)
		return
	}
	p.stats.Spooled.Add(uint64(len(mem)))
	for i := range mem {
		if mem[i].Ack != nil {
			mem[i].Ack() // dropped by paho if the connection is gone: the broker redelivers, idempotently
		}
	}
	p.log.Warn("drain deadline: messages not committed were spooled; they are stored on the next start",
		"messages", len(mem), "dir", p.spool.Dir())
}

// Summary counts what happened to the messages since start: committed,
// left in the spool for the next start, and lost (dropped with the spool
// full or failing). Meant for the final log line, after Run returned.
type Summary struct {
	Committed uint64
	Spooled   uint64
	Lost      uint64
}

// Summary returns the pipeline's summary.
func (p *Pipeline) Summary() Summary {
	sum := Summary{Committed: p.stats.Committed.Load(), Lost: p.stats.Lost.Load()}
	if p.spool != nil {
		st := p.spool.Stats()
		sum.Spooled = uint64(st.Unread + p.leftSpool.Load())
		sum.Lost += uint64(st.Lost)
	}
	return sum
}

// collect fills batches from the queue, then from the spool. A batch is
// handed to the committer as soon as nothing more is available, when it is
// full (BatchSize records or messages, or maxBatchBytes), or when its first
// message has waited BatchDelay; while the committer is busy the current
// batch keeps growing. It returns the batch it was filling when drainCtx
// ended (nil if none).
func (p *Pipeline) collect(ctx, drainCtx context.Context, full chan<- *batch, free <-chan *batch) *batch {
	c := collector{p: p, drainCtx: drainCtx, full: full, done: ctx.Done(), timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	defer c.timer.Stop()
	if p.spool != nil {
		c.ready = p.spool.Ready()
	}
	var b *batch
	for {
		if b == nil {
			select {
			case b = <-free:
			case <-drainCtx.Done():
				return nil
			}
		}
		for !p.isFull(b) && p.poll(b, c.draining) {
		}
		switch {
		case b.msgs == 0:
			p.collecting.Store(0)
			if c.draining {
				return nil // drained
			}
		case p.isFull(b) || c.draining || time.Since(b.started) >= p.cfg.BatchDelay:
			// Due: wait for the committer.
			select {
			case full <- b:
				b = nil
			case <-drainCtx.Done():
				return b
			}
			continue
		}
		if c.wait(b) {
			b = nil // handed over
		}
	}
}

// collector is the state of collect: before ctx is done it collects from
// the queue and the spool; once ctx is done it drains the queue only,
// bounded by drainCtx.
type collector struct {
	p        *Pipeline
	drainCtx context.Context
	full     chan<- *batch
	done     <-chan struct{} // ctx.Done() until the drain starts, then nil
	ready    <-chan struct{} // the spool's Ready until the drain starts, then nil
	draining bool
	timer    *time.Timer
}

// wait blocks until something changes for b, which is not due yet: the
// committer took it (wait returns true), a message arrived (added to b),
// the spool has records, b's delay expired, or the drain started. An empty
// b is not offered to the committer.
func (c *collector) wait(b *batch) bool {
	var handover chan<- *batch
	if b.msgs > 0 {
		// Commit now if the committer is free, else keep collecting until
		// it is, the batch is full, or the delay expires.
		handover = c.full
		c.timer.Reset(c.p.cfg.BatchDelay - time.Since(b.started))
	}
	defer c.timer.Stop()
	select {
	case handover <- b:
		return true
	case m := <-c.p.queue:
		c.p.takeQueued(b, &m)
	case <-c.ready:
	case <-c.timer.C:
	case <-c.done:
		c.draining, c.done, c.ready = true, nil, nil
	}
	return false
}

// poll adds the next available message to b without waiting: from the
// queue, else (unless draining) from the spool. Once the spool has nothing
// unread, new messages go to the queue again.
func (p *Pipeline) poll(b *batch, draining bool) bool {
	select {
	case m := <-p.queue:
		p.takeQueued(b, &m)
		return true
	default:
	}
	if p.spool == nil || draining {
		return false
	}
	if r, pos, ok := p.spool.Next(); ok {
		m := fromSpool(&r)
		p.add(b, &m)
		b.spoolN++
		b.spoolEnd = pos
		return true
	}
	p.mu.Lock()
	if p.spooling && p.spool.Stats().Unread == 0 {
		// Appends happen under mu: nothing can slip in between.
		p.spooling = false
		p.m.spooling.Set(0)
		p.log.Info("spool replayed; back to the in-memory queue")
	}
	p.mu.Unlock()
	return false
}

// takeQueued adds m, taken from the queue, to b.
func (p *Pipeline) takeQueued(b *batch, m *Message) {
	p.queued.Add(-msgSize(m))
	select {
	case p.room <- struct{}{}:
	default:
	}
	b.mem = append(b.mem, *m)
	p.add(b, m)
}

// isFull reports whether b reached the batch size, in records or messages,
// or maxBatchBytes.
func (p *Pipeline) isFull(b *batch) bool {
	return len(b.recs) >= p.cfg.BatchSize || b.msgs >= p.cfg.BatchSize || b.bytes >= maxBatchBytes
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
	b.bytes += msgSize(m)
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
	p.stampTaken(m.Source)
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

// stampTaken records that the write path took a message of source now.
func (p *Pipeline) stampTaken(source string) {
	v, ok := p.taken.Load(source)
	if !ok {
		v, _ = p.taken.LoadOrStore(source, new(atomic.Int64))
	}
	v.(*atomic.Int64).Store(time.Now().UnixNano())
}

// LastTaken returns when the write path last took (transformed) a message
// of source; zero if none yet.
func (p *Pipeline) LastTaken(source string) time.Time {
	if v, ok := p.taken.Load(source); ok {
		return time.Unix(0, v.(*atomic.Int64).Load())
	}
	return time.Time{}
}

// commit applies b in one transaction, then acknowledges its messages.
// While the store is unavailable (etl.ErrUnavailable: disk full, read-only,
// I/O errors) the whole batch is retried with backoff, nothing is skipped
// and Failing reports true. Any other failure is retried record by record:
// a record that fails on its own maxRecordAttempts times is counted as a
// write error and skipped, so that one poisonous record cannot stop ingest.
// If ctx ends (the drain deadline) before the batch is committed, its
// messages are not acknowledged and commit returns false (Run spools them;
// the writes are idempotent should the broker redeliver them too).
func (p *Pipeline) commit(ctx context.Context, b *batch) bool {
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
			p.log.Warn("batch not committed before the drain deadline; its messages are not acknowledged", "messages", b.msgs, "err", err)
			return false
		}
		p.m.batchRecords.Observe(float64(len(b.recs)))
	}
	now := time.Now()
	p.lastCommit.Store(now.UnixNano())
	p.stats.Commits.Add(1)
	p.stats.Committed.Add(uint64(b.msgs))
	if b.spoolN > 0 {
		p.spool.Commit(b.spoolEnd, b.spoolN)
	}
	for _, t := range b.received {
		p.m.lag.Observe(now.Sub(t).Seconds())
	}
	for _, ack := range b.acks {
		ack()
	}
	return true
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
	dropped        *prometheus.CounterVec
	spooling       prometheus.Gauge
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
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corescope_ingest_dropped_total",
			Help: "Messages dropped before they were stored, by reason (spool_full: the queue and the spool were full; spool_error: the spool failed).",
		}, []string{"reason"}),
		spooling: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corescope_ingest_spooling",
			Help: "1 while new messages go to the on-disk spool instead of the in-memory queue.",
		}),
	}
	for _, r := range []string{"spool_full", "spool_error"} {
		m.dropped.WithLabelValues(r)
	}
	if p.spooling {
		m.spooling.Set(1)
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
	queueBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_queue_bytes",
		Help: "Bytes of the messages waiting in the ingest queue (payload, topic and a fixed per-message overhead).",
	}, func() float64 { return float64(p.QueueBytes()) })
	maxBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_queue_max_bytes",
		Help: "Bound of the ingest queue in bytes; beyond it messages go to the spool.",
	}, func() float64 { return float64(p.cfg.QueueBytes) })
	last := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_ingest_last_commit_timestamp_seconds",
		Help: "Unix time of the last committed batch.",
	}, func() float64 {
		t := p.lastCommit.Load()
		return float64(t) / 1e9
	})
	reg.MustRegister(m.batches, m.commitDuration, m.batchRecords, m.lag, m.written, m.dupes, m.writeErrors, m.panics, m.dropped, m.spooling, depth, capacity, queueBytes, maxBytes, last)
	return m
}
