package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/corescope/etl/cmd/corescope-ingestor/config"
	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/capture"
	"github.com/corescope/etl/etl/sqlite"
	"github.com/corescope/etl/etl/topology"
	"github.com/corescope/etl/jobs"
)

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
	req, err := capture.ImportRequest{Files: files, FromDB: fromDB}.Abs()
	if err != nil {
		return usageError{fmt.Errorf("import: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := cf.load(log)
	if err != nil {
		return err
	}
	pr := capture.NewProgressPrinter(stderr)
	client := jobs.NewClient(cfg.HTTP)
	final, err := importStream(ctx, client, req, pr.Update)
	if errors.Is(err, jobs.ErrNoDaemon) {
		fmt.Fprintf(stderr, "%v; importing in this process into %s\n", err, cfg.DBPath)
		final, err = importLocally(ctx, cfg, req, pr.Update, log)
	}
	pr.Finish(final)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(stdout, "imported %d messages (%d bad lines) in %s\n", final.Committed, final.BadLines, pr.Elapsed().Round(time.Millisecond))
	return nil
}

// importLocally opens the database with the writer lock and runs the import
// through a pipeline built like the daemon's.
func importLocally(ctx context.Context, cfg *config.Config, req capture.ImportRequest, progress func(capture.Progress), log *slog.Logger) (capture.Progress, error) {
	db, err := sqlite.Open(ctx, cfg.DBPath, sqlite.Options{})
	if err != nil {
		var le *sqlite.LockedError
		if errors.As(err, &le) {
			return capture.Progress{}, fmt.Errorf("the daemon (pid %d) holds %s but its HTTP endpoint does not answer; enable http.listen or stop it", le.PID, cfg.DBPath)
		}
		return capture.Progress{}, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return capture.Progress{}, err
	}
	im := &capture.Importer{Merge: db.MergeFile, Logger: log}
	if req.FromDB != "" {
		return im.Run(ctx, req, progress)
	}
	// Imported packets get resolved paths from the nodes and the
	// neighbour graph the database holds now, as live ones do.
	topo := topology.NewLive(db)
	if _, err := topo.RefreshIndex(ctx); err != nil {
		return capture.Progress{}, err
	}
	if _, err := topo.RefreshGraph(ctx); err != nil {
		return capture.Progress{}, err
	}
	tr, err := newTransformer(cfg, nil, log, topo)
	if err != nil {
		return capture.Progress{}, err
	}
	pipe := etl.NewPipeline(etl.PipelineConfig{BatchSize: 5000, BatchDelay: 50 * time.Millisecond, Logger: log}, db, tr)
	pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- pipe.Run(pctx) }() // no DrainTimeout: the drain commits everything
	im.Enqueue = pipe.Enqueue
	_, err = im.Run(ctx, req, progress)
	stop()
	if perr := <-done; err == nil {
		err = perr
	}
	return im.Progress(), err
}

// importStream asks the daemon to import; progress lines are passed on as
// they arrive. It returns jobs.ErrNoDaemon when none answers.
func importStream(ctx context.Context, c *jobs.Client, req capture.ImportRequest, progress func(capture.Progress)) (capture.Progress, error) {
	body, _ := json.Marshal(req)
	resp, err := c.Post(ctx, "/import", bytes.NewReader(body))
	if err != nil {
		return capture.Progress{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return capture.Progress{}, fmt.Errorf("daemon: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var last capture.Progress
	dec := json.NewDecoder(resp.Body)
	for {
		var p capture.Progress
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
