// Package statsfile writes the per-second ingest statistics file that
// CoreScope's server reads for its performance page.
//
// The file is compact JSON with CoreScope's key names (spec: ingestor.md §6),
// plus the keys today's server reads for its writer, liveness and MQTT
// status panels (head.md §2.19).
// It is written atomically: the content goes to a temporary file in the same
// directory, created with O_EXCL|O_NOFOLLOW and mode 0600, which is then
// renamed over the destination. A symlink planted at either path is refused:
// it is neither followed nor replaced. Failures are logged once per error streak and
// counted; they are never fatal.
package statsfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultPath is CoreScope's default location of the stats file.
const DefaultPath = "/tmp/corescope-ingestor-stats.json"

// DefaultInterval is how often the file is rewritten.
const DefaultInterval = time.Second

// Counters is the snapshot the writer publishes. Every field is a monotonic
// counter since the process started.
type Counters struct {
	TxInserted         uint64
	ObsInserted        uint64
	TxDupes            uint64
	NodeUpserts        uint64
	ObserverUpserts    uint64
	WriteErrors        uint64
	SigDrops           uint64
	WALCommits         uint64 // real transaction commits
	GroupCommitFlushes uint64 // batches committed (group commits)
	BackfillUpdates    map[string]uint64

	// The panels of CoreScope's current server (spec head.md §2.19); each
	// key is left out while empty.

	// WriterPerf is the use of the write connection per component: the
	// ingest path and each job (writer_perf).
	WriterPerf map[string]WriterPerf
	// SourceLiveness maps a source name to its clocks (source_liveness).
	SourceLiveness map[string]SourceLiveness
	// SourceStatuses is the MQTT status panel, one entry per source
	// (source_statuses).
	SourceStatuses []SourceStatus
	// WatchdogLastTick is the oldest last tick of the sources' stall
	// watchdogs (watchdogLastTickUnix); zero before any has ticked.
	WatchdogLastTick time.Time
	// WatchdogPanics counts panics recovered in the watchdogs
	// (watchdogPanicCount, left out while 0).
	WatchdogPanics uint64
}

// WriterPerf is one component's use of the write connection. Percentiles
// and maxima are over its recent acquisitions, in milliseconds.
type WriterPerf struct {
	Count           uint64  `json:"count"`
	ContentionTotal uint64  `json:"contention_total"` // acquisitions that had to wait for another user
	WaitP50         float64 `json:"wait_ms_p50"`
	WaitP95         float64 `json:"wait_ms_p95"`
	WaitP99         float64 `json:"wait_ms_p99"`
	WaitMax         float64 `json:"wait_ms_max"`
	HoldP50         float64 `json:"hold_ms_p50"`
	HoldP95         float64 `json:"hold_ms_p95"`
	HoldP99         float64 `json:"hold_ms_p99"`
	HoldMax         float64 `json:"hold_ms_max"`
}

// SourceLiveness holds a source's two clocks, in Unix seconds (0 = never).
type SourceLiveness struct {
	// LastReceiptUnix is when the MQTT client last received a message.
	LastReceiptUnix int64 `json:"lastReceiptUnix"`
	// LastMessageUnix is when the write path last took one of its
	// messages; it falls behind LastReceiptUnix when the writer lags.
	LastMessageUnix int64 `json:"lastMessageUnix"`
}

// SourceStatus is one source in the server's MQTT status panel. Times are
// Unix seconds (0 = never).
type SourceStatus struct {
	Name               string `json:"name"`
	Broker             string `json:"broker"` // with its password masked
	Connected          bool   `json:"connected"`
	LastConnectUnix    int64  `json:"lastConnectUnix"`
	LastDisconnectUnix int64  `json:"lastDisconnectUnix"`
	LastPacketUnix     int64  `json:"lastPacketUnix"`
	ConnectCount       uint64 `json:"connectCount"`
	DisconnectCount    uint64 `json:"disconnectCount"`
	PacketsTotal       uint64 `json:"packetsTotal"`
	PacketsLast5m      uint64 `json:"packetsLast5m"`
	LastError          string `json:"lastError,omitempty"`
}

// Writer rewrites the stats file every interval.
type Writer struct {
	path     string
	interval time.Duration
	snapshot func() Counters
	log      *slog.Logger
	failures func() // called on each failed write (a metric), may be nil

	prevIO   ioSample
	failing  bool
	lastErr  string
	writeErr error
}

// NewWriter returns a writer of path that publishes snapshot() every interval.
func NewWriter(path string, interval time.Duration, snapshot func() Counters, log *slog.Logger, onFailure func()) *Writer {
	if path == "" {
		path = DefaultPath
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Writer{path: path, interval: interval, snapshot: snapshot, log: log, failures: onFailure}
}

// Path returns the file's path.
func (w *Writer) Path() string { return w.path }

// Run writes the file every interval until ctx is done.
func (w *Writer) Run(ctx context.Context) error {
	w.prevIO = readProcIO()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			w.WriteOnce(now)
		}
	}
}

// WriteOnce writes one snapshot taken at now. It reports the error, which it
// has also logged (once per error streak) and counted.
func (w *Writer) WriteOnce(now time.Time) error {
	cur := readProcIO()
	body := w.render(now, cur)
	w.prevIO = cur
	err := writeAtomic(w.path, body)
	if err != nil {
		if w.failures != nil {
			w.failures()
		}
		if !w.failing || err.Error() != w.lastErr {
			w.log.Warn("stats file not written", "path", w.path, "err", err)
		}
		w.failing, w.lastErr = true, err.Error()
		return err
	}
	if w.failing {
		w.log.Info("stats file written again", "path", w.path)
	}
	w.failing, w.lastErr = false, ""
	return nil
}

// sample is the JSON document; field order is CoreScope's.
type sample struct {
	SampledAt          string            `json:"sampledAt"`
	TxInserted         uint64            `json:"tx_inserted"`
	ObsInserted        uint64            `json:"obs_inserted"`
	TxDupes            uint64            `json:"tx_dupes"`
	NodeUpserts        uint64            `json:"node_upserts"`
	ObserverUpserts    uint64            `json:"observer_upserts"`
	WriteErrors        uint64            `json:"write_errors"`
	SigDrops           uint64            `json:"sig_drops"`
	WALCommits         uint64            `json:"walCommits"`
	GroupCommitFlushes uint64            `json:"groupCommitFlushes"`
	BackfillUpdates    map[string]uint64 `json:"backfillUpdates"`
	ProcIO             *procIO           `json:"procIO,omitempty"`

	WriterPerf           map[string]WriterPerf     `json:"writer_perf,omitempty"`
	SourceLiveness       map[string]SourceLiveness `json:"source_liveness,omitempty"`
	SourceStatuses       []SourceStatus            `json:"source_statuses,omitempty"`
	WatchdogLastTickUnix int64                     `json:"watchdogLastTickUnix,omitempty"`
	WatchdogPanicCount   uint64                    `json:"watchdogPanicCount,omitempty"`
}

type procIO struct {
	ReadBytesPerSec           float64 `json:"readBytesPerSec"`
	WriteBytesPerSec          float64 `json:"writeBytesPerSec"`
	CancelledWriteBytesPerSec float64 `json:"cancelledWriteBytesPerSec"`
	SyscallsRead              float64 `json:"syscallsRead"`
	SyscallsWrite             float64 `json:"syscallsWrite"`
	SampledAt                 string  `json:"sampledAt"`
}

func (w *Writer) render(now time.Time, cur ioSample) []byte {
	c := w.snapshot()
	s := sample{
		SampledAt:          now.UTC().Format(time.RFC3339),
		TxInserted:         c.TxInserted,
		ObsInserted:        c.ObsInserted,
		TxDupes:            c.TxDupes,
		NodeUpserts:        c.NodeUpserts,
		ObserverUpserts:    c.ObserverUpserts,
		WriteErrors:        c.WriteErrors,
		SigDrops:           c.SigDrops,
		WALCommits:         c.WALCommits,
		GroupCommitFlushes: c.GroupCommitFlushes,
		BackfillUpdates:    c.BackfillUpdates,
		WriterPerf:         c.WriterPerf,
		SourceLiveness:     c.SourceLiveness,
		SourceStatuses:     c.SourceStatuses,
		WatchdogPanicCount: c.WatchdogPanics,
	}
	if !c.WatchdogLastTick.IsZero() {
		s.WatchdogLastTickUnix = c.WatchdogLastTick.Unix()
	}
	if s.BackfillUpdates == nil {
		s.BackfillUpdates = map[string]uint64{}
	}
	if rates, ok := cur.rates(w.prevIO); ok {
		rates.SampledAt = s.SampledAt
		s.ProcIO = &rates
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(s); err != nil {
		panic(err) // cannot happen: plain types
	}
	return bytes.TrimRight(buf.Bytes(), "\n") // CoreScope writes no trailing newline
}

// writeAtomic writes body to a fresh temporary file next to path and renames
// it over path. The temporary file is created exclusively and without
// following symlinks, mode 0600.
func writeAtomic(path string, body []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp := filepath.Join(dir, "."+base+".tmp-"+strconv.Itoa(os.Getpid()))
	// A symlink at the destination is refused, neither followed nor replaced:
	// whoever planted it does not get to choose what we overwrite.
	if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("refusing to write: %s is a symlink", path)
	} else if lerr == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("refusing to write: %s is not a regular file", path)
	}
	// Remove a leftover (or planted) temporary file first; Remove does not
	// follow symlinks, it deletes the link itself.
	if rmErr := os.Remove(tmp); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		return fmt.Errorf("remove stale temp file: %w", rmErr)
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(body); err != nil {
		f.Close()
		return fmt.Errorf("write temp file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	// rename(2) replaces a symlink at path rather than following it.
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// ioSample is one reading of /proc/self/io.
type ioSample struct {
	at                                       time.Time
	valid                                    bool
	readBytes, writeBytes, cancelled, sr, sw float64
}

func readProcIO() ioSample {
	s := ioSample{at: time.Now()}
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "read_bytes":
			s.readBytes, s.valid = n, true
		case "write_bytes":
			s.writeBytes, s.valid = n, true
		case "cancelled_write_bytes":
			s.cancelled, s.valid = n, true
		case "syscr":
			s.sr, s.valid = n, true
		case "syscw":
			s.sw, s.valid = n, true
		}
	}
	return s
}

// rates returns the per-second rates between prev and s.
func (s ioSample) rates(prev ioSample) (procIO, bool) {
	dt := s.at.Sub(prev.at).Seconds()
	if !s.valid || !prev.valid || dt < 0.001 {
		return procIO{}, false
	}
	r := func(a, b float64) float64 { return round2((a - b) / dt) }
	return procIO{
		ReadBytesPerSec:           r(s.readBytes, prev.readBytes),
		WriteBytesPerSec:          r(s.writeBytes, prev.writeBytes),
		CancelledWriteBytesPerSec: r(s.cancelled, prev.cancelled),
		SyscallsRead:              r(s.sr, prev.sr),
		SyscallsWrite:             r(s.sw, prev.sw),
	}, true
}

func round2(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 2, 64), 64)
	return v
}
