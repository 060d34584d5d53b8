package capture

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults.
const (
	DefaultMaxFileBytes = 64 << 20  // bytes per file before rotation
	DefaultMaxFileAge   = time.Hour // age of a file before rotation
	DefaultKeep         = 168       // closed files kept (a week of hourly files)
	DefaultBuffer       = 20000     // messages waiting to be written before drops
	DefaultBufferBytes  = 16 << 20  // payload bytes waiting to be written before drops
	filePrefix          = "capture-"
	fileLayout          = "20060102T150405.000000000Z"
)

// Options configure a Writer. Zero values take the defaults.
type Options struct {
	Dir          string // required
	MaxFileBytes int64
	MaxFileAge   time.Duration
	Keep         int
	NoCompress   bool // keep closed files as plain .jsonl
	Buffer       int
	BufferBytes  int64 // payload bytes buffered at most (default DefaultBufferBytes)
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time
}

// Writer is a running capture. Write is safe for concurrent use.
type Writer struct {
	opts Options
	log  *slog.Logger
	ch   chan etl.Message
	now  func() time.Time

	stopped atomic.Bool
	pending atomic.Int64 // payload bytes in ch
	errMu   sync.Mutex
	err     error

	written, dropped, failures prometheus.Counter
	bytes                      prometheus.Counter
	up                         prometheus.Gauge
}

// Open checks that Dir can be written and returns a Writer; Run does the
// writing.
func Open(opts Options) (*Writer, error) {
	if opts.Dir == "" {
		return nil, errors.New("capture: no directory")
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.MaxFileAge <= 0 {
		opts.MaxFileAge = DefaultMaxFileAge
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.BufferBytes <= 0 {
		opts.BufferBytes = DefaultBufferBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	w := &Writer{
		opts: opts, log: opts.Logger, ch: make(chan etl.Message, opts.Buffer), now: now,
		written:  prometheus.NewCounter(prometheus.CounterOpts{Name: "corescope_capture_messages_total", Help: "Messages written to capture files."}),
		dropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "corescope_capture_dropped_total", Help: "Messages not captured: the capture buffer was full or capture had stopped."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "corescope_capture_failures_total", Help: "Times capture stopped on a write error (disk full, read-only)."}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "corescope_capture_written_bytes_total", Help: "Bytes written to capture files, before compression."}),
		up:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "corescope_capture_up", Help: "1 while capture is writing, 0 after it stopped on an error."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(w.written, w.dropped, w.failures, w.bytes, w.up)
	}
	w.up.Set(1)
	return w, nil
}

// Write queues m for capture without blocking; a full buffer (by count or
// bytes) or a stopped capture drops it (counted).
func (w *Writer) Write(m etl.Message) {
	n := int64(len(m.Payload))
	if w.stopped.Load() || w.pending.Add(n) > w.opts.BufferBytes {
		w.pending.Add(-n)
		w.dropped.Inc()
		return
	}
	m.Ack = nil
	select {
	case w.ch <- m:
	default:
		w.pending.Add(-n)
		w.dropped.Inc()
	}
}

// Err returns why capture stopped, or nil while it runs.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// Run writes queued messages until ctx is done, then writes what is
// buffered and closes the file. A write error stops capture (Err) and
// returns nil: ingest goes on without it.
func (w *Writer) Run(ctx context.Context) error {
	f := &file{w: w}
	defer f.close(false)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	fail := func(err error) {
		w.stopped.Store(true)
		w.errMu.Lock()
		w.err = err
		w.errMu.Unlock()
		w.failures.Inc()
		w.up.Set(0)
		w.log.Error("capture stopped; ingest continues without it", "dir", w.opts.Dir, "err", err)
		f.close(false)
	}
	for {
		select {
		case m := <-w.ch:
			if err := f.write(m); err != nil {
				fail(err)
				return nil
			}
		case <-tick.C:
			if err := f.flushOrRotate(); err != nil {
				fail(err)
				return nil
			}
		case <-ctx.Done():
			for {
				select {
				case m := <-w.ch:
					if err := f.write(m); err != nil {
						fail(err)
						return nil
					}
				default:
					if err := f.close(true); err != nil {
						fail(err)
					}
					return nil
				}
			}
		}
	}
}

// file is the active capture file.
type file struct {
	w       *Writer
	f       *os.File
	bw      *bufio.Writer
	path    string
	opened  time.Time
	size    int64
	line    []byte
	pending bool
}

func (f *file) write(m etl.Message) error {
	f.w.pending.Add(-int64(len(m.Payload)))
	if f.f == nil {
		if err := f.open(); err != nil {
			return err
		}
	}
	var err error
	f.line, err = spool.AppendJSON(f.line[:0], &spool.Record{
		Source: m.Source, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retained, Received: m.Received,
	})
	if err != nil {
		f.w.dropped.Inc()
		return nil
	}
	if _, err := f.bw.Write(f.line); err != nil {
		return fmt.Errorf("capture write %s: %w", f.path, err)
	}
	f.size += int64(len(f.line))
	f.pending = true
	f.w.written.Inc()
	f.w.bytes.Add(float64(len(f.line)))
	if f.size >= f.w.opts.MaxFileBytes {
		return f.rotate()
	}
	return nil
}

func (f *file) open() error {
	t := f.w.now().UTC()
	f.path = filepath.Join(f.w.opts.Dir, filePrefix+t.Format(fileLayout)+".jsonl")
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("capture open: %w", err)
	}
	f.f, f.bw, f.opened, f.size = fh, bufio.NewWriterSize(fh, 256<<10), t, 0
	return nil
}

// flushOrRotate writes buffered lines out (once a second) and rotates an
// old file.
func (f *file) flushOrRotate() error {
	if f.f == nil {
		return nil
	}
	if f.w.now().Sub(f.opened) >= f.w.opts.MaxFileAge {
		return f.rotate()
	}
	if f.pending {
		f.pending = false
		if err := f.bw.Flush(); err != nil {
			return fmt.Errorf("capture write %s: %w", f.path, err)
		}
	}
	return nil
}

func (f *file) rotate() error {
	if err := f.close(true); err != nil {
		return err
	}
	return f.w.prune()
}

// close flushes, syncs and closes the active file; with finish it is also
// compressed (unless NoCompress).
func (f *file) close(finish bool) error {
	if f.f == nil {
		return nil
	}
	err := f.bw.Flush()
	if err == nil {
		err = f.f.Sync()
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	path := f.path
	f.f, f.bw = nil, nil
	if err != nil {
		return fmt.Errorf("capture close %s: %w", path, err)
	}
	if finish && !f.w.opts.NoCompress {
		if err := gzipAndRemove(path); err != nil {
			return fmt.Errorf("capture compress %s: %w", path, err)
		}
	}
	return nil
}

// prune deletes the oldest closed files beyond Keep.
func (w *Writer) prune() error {
	files, err := Files(w.opts.Dir)
	if err != nil {
		return err
	}
	if len(files) <= w.opts.Keep {
		return nil
	}
	for _, p := range files[:len(files)-w.opts.Keep] {
		os.Remove(p)
	}
	return nil
}

// Files lists the capture files of dir (closed and active), oldest first.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, filePrefix) && (strings.HasSuffix(n, ".jsonl") || strings.HasSuffix(n, ".jsonl.gz")) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out, nil
}

func gzipAndRemove(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".gz.partial"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(path)
}
