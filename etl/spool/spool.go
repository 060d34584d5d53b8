package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Spool defaults.
const (
	DefaultMaxBytes     = 1 << 30              // bytes on disk, at most
	DefaultSegmentBytes = 8 << 20              // bytes; a segment is closed once it reaches this size
	DefaultSyncInterval = 5 * time.Millisecond // shortest time between two fsyncs (group commit)
	// maxPending is the most bytes Append buffers before it waits for the
	// flusher: only a disk slower than the arrival rate makes Append wait.
	maxPending = 8 << 20
	// firstSeq numbers the first segment of an empty spool, leaving room
	// below it for Prepend.
	firstSeq  = 1 << 32
	readChunk = 256 << 10 // bytes read from a segment at a time
	ext       = ".jsonl"
)

// Errors returned by Append.
var (
	// ErrFull is returned by Append when the record would take the spool
	// beyond MaxBytes.
	ErrFull = errors.New("spool full")
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("spool closed")
)

// Options tune a Spool. Zero values take the defaults.
type Options struct {
	MaxBytes     int64         // bytes on disk; default DefaultMaxBytes
	SegmentBytes int64         // bytes per segment file; default DefaultSegmentBytes
	SyncInterval time.Duration // default DefaultSyncInterval
	Logger       *slog.Logger
	Registerer   prometheus.Registerer // nil: metrics are not registered
}

// Pos is the position just after a record returned by Next, for Commit.
type Pos struct {
	seq uint64
	off int64
}

// segment is one file of the spool.
type segment struct {
	seq     uint64
	size    int64 // bytes written and fsynced
	records int64 // records in size
	sealed  bool  // no more appends
}

// Spool is a bounded on-disk queue of records; see the package doc. Append
// is safe for concurrent use; Next is for one consumer goroutine, which also
// calls Commit.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	m    *metrics

	mu       sync.Mutex
	space    *sync.Cond // signalled when pending shrinks
	segs     []*segment // in order; the last is the active one unless sealed
	active   *os.File   // file of the last segment while it takes appends
	pending  []byte     // appended, not yet written
	pendDone []func()
	pendN    int64
	flushing bool   // the flusher is writing outside mu
	lastSeq  uint64 // highest segment number used
	bytes    int64  // segment sizes + pending
	unread   int64  // records appended (pending included) and not yet returned by Next
	lost     int64  // records appended whose write failed
	err      error  // sticky write error
	closed   bool

	wake    chan struct{} // to the flusher
	ready   chan struct{} // to the reader: new records are readable
	done    chan struct{} // closed by Close
	flushed chan struct{} // closed when the flusher has returned

	// Reader state, owned by the consumer.
	rseq uint64
	rf   *os.File
	roff int64  // offset in rf of buf[0]
	buf  []byte // read, not yet returned; a window of back
	back []byte
}

// Open opens (creating it if needed) the spool in dir. Records left by an
// earlier run are read first by Next.
func Open(dir string, opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{
		dir:     dir,
		opts:    opts,
		log:     opts.Logger,
		wake:    make(chan struct{}, 1),
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		flushed: make(chan struct{}),
	}
	s.space = sync.NewCond(&s.mu)
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.m = newMetrics(s, opts.Registerer)
	if s.unread > 0 {
		s.log.Info("spool holds messages from an earlier run; they are stored first", "dir", dir, "messages", s.unread, "bytes", s.bytes)
	}
	go s.flusher()
	return s, nil
}

// load reads the segment list, truncates torn last lines and counts records.
func (s *Spool) load() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		hex, ok := strings.CutSuffix(name, ext)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		seg := &segment{seq: seq, sealed: true}
		if err := s.scan(seg); err != nil {
			return err
		}
		if seg.size == 0 {
			os.Remove(s.path(seq))
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.unread += seg.records
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpSeq(a.seq, b.seq) })
	s.lastSeq = firstSeq - 1
	if n := len(s.segs); n > 0 {
		s.rseq = s.segs[0].seq
		s.lastSeq = max(s.lastSeq, s.segs[n-1].seq)
	}
	return nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan counts seg's lines and cuts a torn last line.
func (s *Spool) scan(seg *segment) error {
	b, err := os.ReadFile(s.path(seg.seq))
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end < len(b) {
		s.log.Warn("spool segment ends with a torn line; cutting it", "file", s.path(seg.seq), "bytes", len(b)-end)
		if err := os.Truncate(s.path(seg.seq), int64(end)); err != nil {
			return err
		}
	}
	seg.size = int64(end)
	seg.records = int64(bytes.Count(b[:end], []byte{'\n'}))
	return nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", seq, ext))
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Append adds r to the spool. It returns once r is buffered; done (if not
// nil) is called after r is written and fsynced, from the flusher's
// goroutine. It fails with ErrFull when r would take the spool beyond
// MaxBytes, with ErrClosed after Close, or with the error of an earlier
// failed write.
func (s *Spool) Append(r *Record, done func()) error {
	b, err := AppendJSON(nil, r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for len(s.pending) >= maxPending && !s.closed && s.err == nil {
		s.space.Wait()
	}
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.err != nil:
		err := s.err
		s.mu.Unlock()
		return err
	case s.bytes+int64(len(b)) > s.opts.MaxBytes:
		s.mu.Unlock()
		return ErrFull
	}
	s.pending = append(s.pending, b...)
	if done != nil {
		s.pendDone = append(s.pendDone, done)
	}
	s.pendN++
	s.bytes += int64(len(b))
	s.unread++
	s.mu.Unlock()
	s.m.appends.Inc()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// flusher writes and fsyncs what Append buffered, at most every
// SyncInterval, until Close.
func (s *Spool) flusher() {
	defer close(s.flushed)
	var last time.Time
	for {
		select {
		case <-s.wake:
		case <-s.done:
			s.flush()
			return
		}
		if wait := s.opts.SyncInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
			}
		}
		last = time.Now()
		s.flush()
	}
}

// flush writes and fsyncs the pending buffer, then calls its callbacks.
func (s *Spool) flush() {
	s.mu.Lock()
	if len(s.pending) == 0 || s.err != nil {
		s.mu.Unlock()
		return
	}
	f, seg, err := s.activeLocked()
	if err != nil {
		s.failLocked(err)
		s.mu.Unlock()
		return
	}
	buf, dones, n := s.pending, s.pendDone, s.pendN
	s.pending, s.pendDone, s.pendN = nil, nil, 0
	s.flushing = true
	s.space.Broadcast()
	s.mu.Unlock()

	start := time.Now()
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	s.m.syncDuration.Observe(time.Since(start).Seconds())

	s.mu.Lock()
	s.flushing = false
	s.space.Broadcast()
	if err != nil {
		s.bytes -= int64(len(buf))
		s.unread -= n
		s.lost += n
		s.failLocked(err)
		s.mu.Unlock()
		return
	}
	seg.size += int64(len(buf))
	seg.records += n
	if seg.size >= s.opts.SegmentBytes {
		s.sealLocked()
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	for _, d := range dones {
		d()
	}
}

// activeLocked returns the segment that takes appends, creating it if needed.
func (s *Spool) activeLocked() (*os.File, *segment, error) {
	if s.active != nil {
		return s.active, s.segs[len(s.segs)-1], nil
	}
	seq := s.lastSeq + 1
	f, err := s.create(seq)
	if err != nil {
		return nil, nil, err
	}
	s.lastSeq = seq
	seg := &segment{seq: seq}
	s.segs = append(s.segs, seg)
	s.active = f
	return f, seg, nil
}

// create creates segment file seq and makes its directory entry durable.
func (s *Spool) create(seq uint64) (*os.File, error) {
	f, err := os.OpenFile(s.path(seq), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("create segment: %w", err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// sealLocked closes the active segment to appends.
func (s *Spool) sealLocked() {
	if s.active == nil {
		return
	}
	s.active.Close()
	s.active = nil
	s.segs[len(s.segs)-1].sealed = true
}

// failLocked makes err sticky: the records still pending are lost, Append
// fails from now on.
func (s *Spool) failLocked(err error) {
	s.err = fmt.Errorf("spool write: %w", err)
	s.lost += s.pendN
	s.unread -= s.pendN
	s.bytes -= int64(len(s.pending))
	s.pending, s.pendDone, s.pendN = nil, nil, 0
	s.space.Broadcast()
	s.log.Error("spool write failed; messages that overflow the queue are now dropped", "dir", s.dir, "err", err)
}

// Ready is signalled when records become readable by Next.
func (s *Spool) Ready() <-chan struct{} { return s.ready }

// Unread reports whether records were appended (or left by an earlier run)
// that Next has not returned yet, including buffered ones not yet readable.
func (s *Spool) Unread() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unread
}

// Next returns the oldest record not yet returned and its position for
// Commit. ok is false when no record is readable now (wait on Ready). A line
// that does not parse is skipped, counted and logged.
func (s *Spool) Next() (r Record, pos Pos, ok bool) {
	for {
		line, pos, ok, err := s.nextLine()
		if err != nil {
			s.log.Error("spool read failed; the rest of the segment is skipped", "dir", s.dir, "err", err)
			s.skipSegment()
			continue
		}
		if !ok {
			return Record{}, Pos{}, false
		}
		s.mu.Lock()
		s.unread--
		s.mu.Unlock()
		r, err := ParseJSON(line)
		if err != nil {
			s.m.corrupt.Inc()
			s.log.Error("spool line skipped", "dir", s.dir, "err", err)
			continue
		}
		s.m.replays.Inc()
		return r, pos, true
	}
}

// nextLine returns the next complete line of the spool.
func (s *Spool) nextLine() ([]byte, Pos, bool, error) {
	for {
		s.mu.Lock()
		seg := s.segmentLocked(s.rseq)
		if seg == nil {
			s.mu.Unlock()
			s.closeReader()
			return nil, Pos{}, false, nil
		}
		if seg.seq != s.rseq {
			s.closeReader()
			s.rseq = seg.seq
		}
		limit, sealed := seg.size, seg.sealed
		s.mu.Unlock()

		if s.rf == nil {
			f, err := os.Open(s.path(s.rseq))
			if err != nil {
				return nil, Pos{}, false, err
			}
			s.rf, s.roff, s.buf = f, 0, s.buf[:0]
		}
		if i := bytes.IndexByte(s.buf, '\n'); i >= 0 {
			line := s.buf[:i]
			s.buf = s.buf[i+1:]
			s.roff += int64(i) + 1
			return line, Pos{seq: s.rseq, off: s.roff}, true, nil
		}
		end := s.roff + int64(len(s.buf)) // file offset read up to
		if end >= limit {
			if !sealed {
				return nil, Pos{}, false, nil // caught up with the writer
			}
			if len(s.buf) > 0 {
				return nil, Pos{}, false, fmt.Errorf("%s: %d bytes without a newline at the end", s.path(s.rseq), len(s.buf))
			}
			s.closeReader()
			s.rseq++ // segmentLocked finds the next one
			continue
		}
		// Read more, at most up to limit (only whole, fsynced lines).
		if cap(s.buf)-len(s.buf) < readChunk {
			if len(s.buf)+readChunk > cap(s.back) {
				s.back = make([]byte, 0, 2*(len(s.buf)+readChunk))
			}
			s.buf = append(s.back[:0], s.buf...)
		}
		want := min(int64(cap(s.buf)-len(s.buf)), limit-end)
		n, err := s.rf.ReadAt(s.buf[len(s.buf):len(s.buf)+int(want)], end)
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%s: shorter than its %d written bytes", s.path(s.rseq), limit)
			}
			return nil, Pos{}, false, err
		}
	}
}

// segmentLocked returns the segment seq, or else the first one after it.
func (s *Spool) segmentLocked(seq uint64) *segment {
	for _, g := range s.segs {
		if g.seq >= seq {
			return g
		}
	}
	return nil
}

// skipSegment abandons the rest of the segment being read after a read
// error.
func (s *Spool) skipSegment() {
	s.closeReader()
	s.rseq++
}

func (s *Spool) closeReader() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	s.roff = 0
	s.buf = s.buf[:0]
}

// Commit tells the spool that every record up to pos (returned by Next) is
// stored: segment files that hold only such records are deleted. n is how
// many records that commit covers, for the metrics.
func (s *Spool) Commit(pos Pos, n int) {
	s.m.commits.Add(float64(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		g := s.segs[0]
		last := len(s.segs) == 1
		switch {
		case g.seq < pos.seq:
		case g.seq == pos.seq && pos.off >= g.size && g.sealed:
		case g.seq == pos.seq && pos.off >= g.size && last && len(s.pending) == 0 && !s.flushing:
			s.sealLocked() // g is the active segment, fully committed
		default:
			return
		}
		if !g.sealed { // still takes appends
			return
		}
		if err := os.Remove(s.path(g.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool segment not removed", "err", err)
			return
		}
		s.bytes -= g.size
		s.segs = s.segs[1:]
	}
}

// Prepend writes rs, fsynced, in a new segment read before every other
// one. The pipeline uses it at shutdown for messages older than everything
// the spool holds. MaxBytes is not enforced. It is not safe concurrently
// with Next.
func (s *Spool) Prepend(rs []Record) error { return s.writeSegment(rs, true) }

// AppendSegment writes rs, fsynced, in a new segment after every other one,
// like Append but synchronously and without enforcing MaxBytes: the
// pipeline uses it at shutdown.
func (s *Spool) AppendSegment(rs []Record) error { return s.writeSegment(rs, false) }

func (s *Spool) writeSegment(rs []Record, front bool) error {
	if len(rs) == 0 {
		return nil
	}
	var b []byte
	for i := range rs {
		var err error
		if b, err = AppendJSON(b, &rs[i]); err != nil {
			return err
		}
	}
	if !front {
		s.flushWait()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.lastSeq + 1
	if front && len(s.segs) > 0 {
		seq = s.segs[0].seq - 1
	}
	if !front {
		s.sealLocked()
	}
	f, err := s.create(seq)
	if err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path(seq))
		return fmt.Errorf("write segment: %w", err)
	}
	s.lastSeq = max(s.lastSeq, seq)
	seg := &segment{seq: seq, size: int64(len(b)), records: int64(len(rs)), sealed: true}
	if front {
		s.segs = slices.Insert(s.segs, 0, seg)
		if s.rf != nil || s.rseq > seq {
			s.closeReader()
			s.rseq = seq
		}
	} else {
		s.segs = append(s.segs, seg)
	}
	s.bytes += int64(len(b))
	s.unread += int64(len(rs))
	s.m.appends.Add(float64(len(rs)))
	return nil
}

// flushWait waits until what Append buffered is written (or failed).
func (s *Spool) flushWait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for (len(s.pending) > 0 || s.flushing) && s.err == nil && !s.closed {
		select {
		case s.wake <- struct{}{}:
		default:
		}
		s.space.Wait()
	}
}

// Stats is a snapshot of the spool's size.
type Stats struct {
	Bytes  int64 // on disk and buffered
	Unread int64 // records not yet returned by Next
	Lost   int64 // records accepted by Append whose write failed
}

// Stats returns the spool's current size.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Bytes: s.bytes, Unread: s.unread, Lost: s.lost}
}

// MaxBytes returns the spool's bound in bytes.
func (s *Spool) MaxBytes() int64 { return s.opts.MaxBytes }

// Close writes and fsyncs what is buffered and closes the files. Append
// fails after Close. Close is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.space.Broadcast()
	s.mu.Unlock()
	close(s.done)
	<-s.flushed
	s.closeReader()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	// An empty last segment (every record committed) is not kept.
	return s.err
}

type metrics struct {
	appends      prometheus.Counter
	replays      prometheus.Counter
	commits      prometheus.Counter
	corrupt      prometheus.Counter
	syncDuration prometheus.Histogram
}

func newMetrics(s *Spool, reg prometheus.Registerer) *metrics {
	m := &metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_spool_appends_total",
			Help: "Messages written to the on-disk spool.",
		}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_spool_replays_total",
			Help: "Messages read back from the on-disk spool.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_spool_committed_total",
			Help: "Messages read back from the spool and committed to the database.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corescope_spool_corrupt_lines_total",
			Help: "Spool lines that could not be parsed and were skipped.",
		}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corescope_spool_sync_duration_seconds",
			Help:    "Time to write and fsync one group of spooled messages.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	if reg == nil {
		return m
	}
	bytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_spool_bytes",
		Help: "Bytes in the on-disk spool (segment files and the write buffer).",
	}, func() float64 { return float64(s.Stats().Bytes) })
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_spool_max_bytes",
		Help: "Bound of the on-disk spool in bytes.",
	}, func() float64 { return float64(s.opts.MaxBytes) })
	msgs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "corescope_spool_messages",
		Help: "Messages in the on-disk spool waiting to be replayed.",
	}, func() float64 { return float64(s.Stats().Unread) })
	reg.MustRegister(m.appends, m.replays, m.commits, m.corrupt, m.syncDuration, bytes, limit, msgs)
	return m
}
