package capture

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
)

// importSource is the source name of imported messages that do not carry
// one (plain JSON Lines files).
const importSource = "import"

const (
	progressRedraw = 200 * time.Millisecond // between the snapshots an import of files reports
	commitPoll     = 20 * time.Millisecond  // between checks that every imported message is committed
	readBuffer     = 256 << 10              // bytes read from an import file at a time
	maxRequest     = 1 << 20                // bytes of a POST /import body read at most
)

// ImportRequest is what `corescope-ingestor import` asks of a running
// daemon (POST /import): files to import, or another database to merge.
// Paths are absolute and read by the daemon.
type ImportRequest struct {
	Files  []string `json:"files,omitempty"`  // capture files (.jsonl, .jsonl.gz) or {topic, payload} JSON Lines
	FromDB string   `json:"fromDB,omitempty"` // another CoreScope database, instead of files
}

// Abs returns r with its paths made absolute, as ImportHandler requires
// (a daemon does not share the caller's working directory), after checking
// that each exists.
func (r ImportRequest) Abs() (ImportRequest, error) {
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		_, err = os.Stat(a)
		return a, err
	}
	var out ImportRequest
	for _, f := range r.Files {
		a, err := abs(f)
		if err != nil {
			return ImportRequest{}, err
		}
		out.Files = append(out.Files, a)
	}
	if r.FromDB != "" {
		a, err := abs(r.FromDB)
		if err != nil {
			return ImportRequest{}, err
		}
		out.FromDB = a
	}
	return out, nil
}

// Progress is a snapshot of an import, streamed by the daemon as JSON
// lines and printed by the CLI. For a merge of another database, the
// messages and bytes are its observations.
type Progress struct {
	Messages   int64  `json:"messages"`   // messages read and handed to the pipeline
	Committed  int64  `json:"committed"`  // of those, stored (or rejected and counted) by a committed batch
	BadLines   int64  `json:"badLines"`   // lines that are not messages
	Bytes      int64  `json:"bytes"`      // input bytes read (compressed size for .gz)
	TotalBytes int64  `json:"totalBytes"` // input size
	Done       bool   `json:"done"`       // the last snapshot of the import
	Error      string `json:"error,omitempty"`
}

// Importer runs one import and tracks its progress; it serves the daemon's
// POST /import (ImportHandler) and the CLI's import in its own process
// alike. Files are read with Read (gzip-compressed when their name ends
// in .gz) and each message is handed to Enqueue; a message without a
// source is given the source "import", one without a receipt time the
// time it is read.
type Importer struct {
	// Enqueue hands a message to the ingest pipeline (etl.Pipeline.Enqueue),
	// which calls the message's Ack once its batch is committed. Required
	// to import files.
	Enqueue func(ctx context.Context, m etl.Message) error
	// Merge merges the database at path into the store, calling progress
	// after each chunk with the observations merged so far and their total
	// ((*sqlite.DB).MergeFile). Required to merge a database.
	Merge func(ctx context.Context, path string, progress func(merged, total int64)) error
	// Logger receives a warning for each of the first five lines of a file
	// that are not messages; nil discards them.
	Logger *slog.Logger

	messages, committed, bad, bytes, size atomic.Int64
}

// Run imports req: it merges req.FromDB when set, otherwise it imports
// req.Files in order and waits until every message handed to Enqueue is
// committed (QoS 1 semantics). It calls progress with a snapshot every
// 200 ms while files are imported, or after each chunk of a merge, and
// returns the last snapshot, with Done set.
func (im *Importer) Run(ctx context.Context, req ImportRequest, progress func(Progress)) (Progress, error) {
	var err error
	if req.FromDB != "" {
		err = im.merge(ctx, req.FromDB, progress)
	} else {
		err = im.importFiles(ctx, req.Files, progress)
	}
	p := im.Progress()
	p.Done = true
	return p, err
}

// Progress returns a snapshot of the import.
func (im *Importer) Progress() Progress {
	return Progress{
		Messages: im.messages.Load(), Committed: im.committed.Load(), BadLines: im.bad.Load(),
		Bytes: im.bytes.Load(), TotalBytes: im.size.Load(),
	}
}

func (im *Importer) merge(ctx context.Context, path string, progress func(Progress)) error {
	return im.Merge(ctx, path, func(merged, total int64) {
		im.size.Store(total)
		im.messages.Store(merged)
		im.committed.Store(merged)
		im.bytes.Store(merged)
		progress(im.Progress())
	})
}

func (im *Importer) importFiles(ctx context.Context, paths []string, progress func(Progress)) error {
	stop := im.report(ctx, progress)
	defer stop()
	if err := im.files(ctx, paths); err != nil {
		return err
	}
	return im.waitCommitted(ctx)
}

// report calls progress with a snapshot every progressRedraw until the
// returned stop.
func (im *Importer) report(ctx context.Context, progress func(Progress)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressRedraw)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				progress(im.Progress())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// files imports each file in order. Every message is acknowledged through
// its Ack once its batch is committed, which counts it.
func (im *Importer) files(ctx context.Context, paths []string) error {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		im.size.Add(st.Size())
	}
	for _, p := range paths {
		if err := im.file(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

func (im *Importer) file(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = &countingReader{r: bufio.NewReaderSize(f, readBuffer), n: &im.bytes}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	bad, err := Read(r, func(rec spool.Record, line int) error {
		m := etl.Message{
			Source: rec.Source, Topic: rec.Topic, Payload: rec.Payload, QoS: 1,
			Retained: rec.Retain, Received: rec.Received,
		}
		if m.Source == "" {
			m.Source = importSource
		}
		if m.Received.IsZero() {
			m.Received = time.Now()
		}
		m.Ack = func() { im.committed.Add(1) }
		im.messages.Add(1)
		return im.Enqueue(ctx, m)
	})
	if im.Logger != nil {
		for _, b := range bad[:min(len(bad), 5)] {
			im.Logger.Warn("import: line is not a message", "file", path, "line", b.Line, "err", b.Err)
		}
	}
	im.bad.Add(int64(len(bad)))
	return err
}

// waitCommitted waits until every message handed over is committed.
func (im *Importer) waitCommitted(ctx context.Context) error {
	t := time.NewTicker(commitPoll)
	defer t.Stop()
	for im.committed.Load() < im.messages.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// countingReader counts the bytes read through it into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// ImportHandler serves POST /import on the daemon: it decodes an
// ImportRequest (its paths must be absolute: the files are read by the
// daemon, which must be able to read them), runs it through an Importer
// with enqueue (the daemon's own pipeline) and merge, and streams its
// Progress as JSON lines, the last one with done: true and the error, if
// any. log receives the warnings of the Importer and a summary of each
// import.
func ImportHandler(enqueue func(ctx context.Context, m etl.Message) error, merge func(ctx context.Context, path string, progress func(merged, total int64)) error, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var req ImportRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxRequest)).Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		for _, f := range append(req.Files, req.FromDB) {
			if f != "" && !filepath.IsAbs(f) {
				http.Error(w, "paths must be absolute", http.StatusBadRequest)
				return
			}
		}
		// An import streams progress for as long as it takes: lift the
		// server's write deadline for this response, as a job run does.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		fl, _ := w.(http.Flusher)
		send := func(p Progress) {
			enc.Encode(p)
			if fl != nil {
				fl.Flush()
			}
		}
		im := &Importer{Enqueue: enqueue, Merge: merge, Logger: log}
		p, err := im.Run(r.Context(), req, send)
		if err != nil {
			p.Error = err.Error()
		}
		log.Info("import finished", "messages", p.Messages, "committed", p.Committed, "bad_lines", p.BadLines, "err", err)
		send(p)
	})
}
