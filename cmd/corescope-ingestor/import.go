package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/capture"
	"github.com/corescope/etl/etl/spool"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
)

// importSource is the source name of imported messages that do not carry
// one (plain JSON Lines files).
const importSource = "import"

// progressEvery is how often import reports progress when stderr is not a
// terminal (a terminal gets a bar, redrawn every progressRedraw).
const (
	progressEvery  = 5 * time.Second
	progressRedraw = 200 * time.Millisecond
)

// importRequest is what `import` sends to a running daemon.
type importRequest struct {
	Files  []string `json:"files,omitempty"`
	FromDB string   `json:"fromDB,omitempty"`
}

// importProgress is a snapshot of an import, streamed by the daemon as
// JSON lines and printed by the CLI.
type importProgress struct {
	Messages   int64  `json:"messages"`   // messages read and handed to the pipeline
	Committed  int64  `json:"committed"`  // of those, stored (or rejected and counted) by a committed batch
	BadLines   int64  `json:"badLines"`   // lines that are not messages
	Bytes      int64  `json:"bytes"`      // input bytes read (compressed size for .gz)
	TotalBytes int64  `json:"totalBytes"` // input size
	Done       bool   `json:"done"`
	Error      string `json:"error,omitempty"`
}

// importer feeds files to an enqueue function and tracks progress; it is
// shared by the CLI's local mode and the daemon's /import endpoint.
type importer struct {
	enqueue                               func(ctx context.Context, m etl.Message) error
	log                                   *slog.Logger
	messages, committed, bad, bytes, size atomic.Int64
}

func (im *importer) snapshot() importProgress {
	return importProgress{
		Messages: im.messages.Load(), Committed: im.committed.Load(), BadLines: im.bad.Load(),
		Bytes: im.bytes.Load(), TotalBytes: im.size.Load(),
	}
}

// files imports each file in order. Every message is acknowledged through
// its Ack once its batch is committed (QoS 1 semantics), which counts it.
func (im *importer) files(ctx context.Context, paths []string) error {
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

func (im *importer) file(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = &countingReader{r: bufio.NewReaderSize(f, 256<<10), n: &im.bytes}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	bad, err := capture.Read(r, func(rec spool.Record, line int) error {
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
		return im.enqueue(ctx, m)
	})
	for i, b := range bad {
		if i < 5 {
			im.log.Warn("import: line is not a message", "file", path, "line", b.Line, "err", b.Err)
		}
	}
	im.bad.Add(int64(len(bad)))
	return err
}

// waitCommitted waits until every message handed over is committed.
func (im *importer) waitCommitted(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
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

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// cmdImport implements
//
//	import [-config PATH] FILE…            capture files (.jsonl, .jsonl.gz) or {topic,payload} JSON Lines
//	import [-config PATH] --from-db OTHER  another CoreScope database
//
// Through the running daemon when one answers on http.listen (it stays the
// only writer), otherwise in this process with the writer lock, like
// `jobs run`. Importing the same input twice adds nothing.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlag(fs)
	var fromDB string
	fs.StringVar(&fromDB, "from-db", "", "merge another CoreScope database (either era) instead of files")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: corescope-ingestor import [-config PATH] FILE…\n       corescope-ingestor import [-config PATH] --from-db OTHER.db\n")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if (len(files) == 0) == (fromDB == "") {
		return usageError{errors.New("import: give either files or --from-db")}
	}
	req := importRequest{FromDB: fromDB}
	for _, f := range append(files, fromDB) {
		if f == "" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return usageError{err}
		}
		if _, err := os.Stat(abs); err != nil {
			return usageError{fmt.Errorf("import: %w", err)}
		}
		if f == fromDB {
			req.FromDB = abs
		} else {
			req.Files = append(req.Files, abs)
		}
	}
	cfg, err := cf.load(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	pr := newProgressPrinter(stderr)
	client := jobs.NewClient(cfg.HTTP.Listen, cfg.HTTP.Username, cfg.HTTP.Password, cfg.HTTP.BearerToken)
	final, err := importStream(ctx, client, req, pr.update)
	if errors.Is(err, jobs.ErrNoDaemon) {
		fmt.Fprintf(stderr, "%v; importing in this process into %s\n", err, cfg.DBPath)
		final, err = importLocally(ctx, cfg, req, pr.update, stderr)
	}
	pr.finish(final)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d messages (%d bad lines) in %s\n", final.Committed, final.BadLines, pr.elapsed().Round(time.Millisecond))
	return nil
}

// importLocally opens the database with the writer lock and runs the import
// through a pipeline built like the daemon's.
func importLocally(ctx context.Context, cfg *config.Config, req importRequest, progress func(importProgress), stderr io.Writer) (importProgress, error) {
	db, err := sqlite.Open(ctx, cfg.DBPath, sqlite.Options{})
	if err != nil {
		var le *sqlite.LockedError
		if errors.As(err, &le) {
			return importProgress{}, fmt.Errorf("the daemon (pid %d) holds %s but its HTTP endpoint does not answer; enable http.listen or stop it", le.PID, cfg.DBPath)
		}
		return importProgress{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return importProgress{}, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if req.FromDB != "" {
		return mergeDB(ctx, db, req.FromDB, progress, log)
	}
	// Imported packets get resolved paths from the nodes and the
	// neighbour graph the database holds now, as live ones do.
	topo := topology.NewLive(db)
	if _, err := topo.RefreshIndex(ctx); err != nil {
		return importProgress{}, err
	}
	if _, err := topo.RefreshGraph(ctx); err != nil {
		return importProgress{}, err
	}
	tr, err := newTransformer(cfg, nil, log, topo)
	if err != nil {
		return importProgress{}, err
	}
	pipe := etl.NewPipeline(etl.PipelineConfig{BatchSize: 5000, BatchDelay: 50 * time.Millisecond, Logger: log}, db, tr)
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- pipe.Run(pctx) }() // no DrainTimeout: the drain commits everything
	im := &importer{enqueue: pipe.Enqueue, log: log}
	tick := startTicker(ctx, im.snapshot, progress)
	err = im.files(ctx, req.Files)
	if err == nil {
		err = im.waitCommitted(ctx)
	}
	stop()
	if perr := <-done; err == nil {
		err = perr
	}
	tick()
	p := im.snapshot()
	p.Done = true
	return p, err
}

// startTicker calls progress with snapshots until the returned stop.
func startTicker(ctx context.Context, snap func() importProgress, progress func(importProgress)) (stop func()) {
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
				progress(snap())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// importStream asks the daemon to import; progress lines are passed on as
// they arrive. It returns jobs.ErrNoDaemon when none answers.
func importStream(ctx context.Context, c *jobs.Client, req importRequest, progress func(importProgress)) (importProgress, error) {
	body, _ := json.Marshal(req)
	resp, err := c.Post(ctx, "/import", bytes.NewReader(body))
	if err != nil {
		return importProgress{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return importProgress{}, fmt.Errorf("daemon: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var last importProgress
	dec := json.NewDecoder(resp.Body)
	for {
		var p importProgress
		if err := dec.Decode(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return last, errors.New("daemon: the import stream ended early")
			}
			return last, fmt.Errorf("daemon: %w", err)
		}
		last = p
		if p.Done {
			if p.Error != "" {
				return p, errors.New(p.Error)
			}
			return p, nil
		}
		progress(p)
	}
}

// importHandler serves POST /import on the daemon: the files are read by
// the daemon (they must be readable by it) and fed to its own pipeline;
// progress is streamed as JSON lines, the last one with done: true.
func importHandler(enqueue func(ctx context.Context, m etl.Message) error, db *sqlite.DB, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		var req importRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
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
		send := func(p importProgress) {
			enc.Encode(p)
			if fl != nil {
				fl.Flush()
			}
		}
		ctx := r.Context()
		var (
			p   importProgress
			err error
		)
		if req.FromDB != "" {
			p, err = mergeDB(ctx, db, req.FromDB, send, log)
		} else {
			im := &importer{enqueue: enqueue, log: log}
			stop := startTicker(ctx, im.snapshot, send)
			err = im.files(ctx, req.Files)
			if err == nil {
				err = im.waitCommitted(ctx)
			}
			stop()
			p = im.snapshot()
		}
		p.Done = true
		if err != nil {
			p.Error = err.Error()
		}
		log.Info("import finished", "messages", p.Messages, "committed", p.Committed, "bad_lines", p.BadLines, "err", err)
		send(p)
	})
}

// progressPrinter shows progress on stderr: a redrawn bar on a terminal,
// a line every progressEvery otherwise.
type progressPrinter struct {
	w       io.Writer
	tty     bool
	start   time.Time
	lastOut time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressPrinter{w: w, tty: tty, start: time.Now()}
}

func (pp *progressPrinter) elapsed() time.Duration { return time.Since(pp.start) }

func (pp *progressPrinter) update(p importProgress) {
	now := time.Now()
	if !pp.tty && now.Sub(pp.lastOut) < progressEvery {
		return
	}
	pp.lastOut = now
	if pp.tty {
		fmt.Fprintf(pp.w, "\r%s", pp.line(p))
	} else {
		fmt.Fprintln(pp.w, pp.line(p))
	}
}

func (pp *progressPrinter) finish(p importProgress) {
	if pp.tty {
		fmt.Fprintf(pp.w, "\r%s\n", pp.line(p))
	}
}

// line renders "[#####.....]  45%  123456 msgs  23456 msg/s  ETA 12s".
func (pp *progressPrinter) line(p importProgress) string {
	el := pp.elapsed().Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.Committed) / el
	}
	frac := 0.0
	if p.TotalBytes > 0 {
		frac = min(1, float64(p.Bytes)/float64(p.TotalBytes))
	}
	eta := "-"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(el*(1-frac)/frac) * time.Second).Round(time.Second).String()
	}
	const width = 30
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat(".", width-int(frac*width))
	if p.TotalBytes == 0 {
		return fmt.Sprintf("%d messages  %.0f msg/s", p.Committed, rate)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %d messages  %.0f msg/s  ETA %s", bar, frac*100, p.Committed, rate, eta)
}

// mergeChunk is the observations per Apply (one transaction) and the rows
// per write chunk of the other tables during a merge.
const mergeChunk = 2000

// mergeDB merges another CoreScope database into db: its observations (with
// their transmissions) through the ingest write path, so that they are
// deduplicated exactly as live traffic, then its observers, nodes and
// metrics (sqlite.MergeForeignRows).
func mergeDB(ctx context.Context, db *sqlite.DB, path string, progress func(importProgress), log *slog.Logger) (importProgress, error) {
	if a, err := os.Stat(path); err == nil {
		if b, err := os.Stat(db.Path()); err == nil && os.SameFile(a, b) {
			return importProgress{}, sqlite.ErrForeignIsSelf
		}
	}
	f, err := sqlite.OpenForeign(ctx, path)
	if err != nil {
		return importProgress{}, err
	}
	defer f.Close()
	total, err := f.Observations(ctx)
	if err != nil {
		return importProgress{}, err
	}
	var p importProgress
	p.TotalBytes = total // progress in observations
	var after int64
	for {
		recs, last, err := f.PacketRecords(ctx, after, mergeChunk)
		if err != nil {
			return p, err
		}
		if len(recs) == 0 {
			break
		}
		if _, err := db.Apply(ctx, recs); err != nil {
			return p, fmt.Errorf("merge observations after id %d: %w", after, err)
		}
		after = last
		p.Messages += int64(len(recs))
		p.Committed, p.Bytes = p.Messages, p.Messages
		progress(p)
	}
	c, err := db.MergeForeignRows(ctx, f, mergeChunk)
	if err != nil {
		return p, err
	}
	log.Info("merged database", "path", path, "observations", p.Messages, "observers", c.Observers,
		"nodes", c.Nodes, "inactive_nodes", c.InactiveNodes, "metrics", c.Metrics)
	return p, nil
}
