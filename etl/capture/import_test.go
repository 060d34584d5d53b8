package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/corescope/etl/etl"
	"github.com/corescope/etl/etl/spool"
)

// writeImportFile writes, gzip-compressed, n capture records, one plain
// {topic, payload} line and one line that is not a message.
func writeImportFile(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	for i := range n {
		line, err := spool.AppendJSON(nil, &spool.Record{Source: "eu", Topic: msg(i).Topic, Payload: msg(i).Payload, Received: msg(i).Received})
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(line)
	}
	buf.WriteString(`{"topic":"meshcore/SJC/PLAIN/packets","payload":{"raw":"00"}}` + "\n{not json\n")
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	path := filepath.Join(t.TempDir(), "capture.jsonl.gz")
	if err := os.WriteFile(path, z.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// committer stands for the pipeline: it acknowledges the enqueued messages
// from another goroutine, as a committed batch does.
type committer struct {
	mu   sync.Mutex
	msgs []etl.Message
	ch   chan etl.Message
}

func newCommitter(t *testing.T) *committer {
	c := &committer{ch: make(chan etl.Message, 16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range c.ch {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			m.Ack()
		}
	}()
	t.Cleanup(func() { close(c.ch); <-done })
	return c
}

func (c *committer) enqueue(ctx context.Context, m etl.Message) error {
	select {
	case c.ch <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestImporterFiles(t *testing.T) {
	path := writeImportFile(t, 50)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	c := newCommitter(t)
	im := &Importer{Enqueue: c.enqueue}
	p, err := im.Run(context.Background(), ImportRequest{Files: []string{path}}, func(Progress) {})
	if err != nil {
		t.Fatal(err)
	}
	want := Progress{Messages: 51, Committed: 51, BadLines: 1, Bytes: st.Size(), TotalBytes: st.Size(), Done: true}
	if p != want {
		t.Fatalf("progress %+v, want %+v", p, want)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, plain := c.msgs[0], c.msgs[50]
	if first.Source != "eu" || !first.Received.Equal(msg(0).Received) || first.QoS != 1 {
		t.Errorf("capture record imported as %+v", first)
	}
	if plain.Source != importSource || plain.Received.IsZero() || string(plain.Payload) != `{"raw":"00"}` {
		t.Errorf("plain line imported as %+v", plain)
	}
}

func TestImporterFileError(t *testing.T) {
	im := &Importer{Enqueue: newCommitter(t).enqueue}
	missing := filepath.Join(t.TempDir(), "missing.jsonl")
	if _, err := im.Run(context.Background(), ImportRequest{Files: []string{missing}}, func(Progress) {}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

// A merge reports its observations as messages and bytes.
func TestImporterMerge(t *testing.T) {
	im := &Importer{Merge: func(_ context.Context, path string, progress func(merged, total int64)) error {
		if path != "/other.db" {
			t.Errorf("path %q", path)
		}
		progress(2, 5)
		progress(5, 5)
		return nil
	}}
	var seen []Progress
	p, err := im.Run(context.Background(), ImportRequest{FromDB: "/other.db"}, func(p Progress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != (Progress{Messages: 2, Committed: 2, Bytes: 2, TotalBytes: 5}) {
		t.Fatalf("progress %+v", seen)
	}
	if want := (Progress{Messages: 5, Committed: 5, Bytes: 5, TotalBytes: 5, Done: true}); p != want {
		t.Fatalf("final %+v, want %+v", p, want)
	}
}

func TestImportRequestAbs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("a.jsonl", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ImportRequest{Files: []string{"a.jsonl"}}.Abs()
	if err != nil || len(got.Files) != 1 || !filepath.IsAbs(got.Files[0]) || got.FromDB != "" {
		t.Fatalf("Abs = %+v, %v", got, err)
	}
	if _, err := (ImportRequest{FromDB: "missing.db"}).Abs(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestImportHandler(t *testing.T) {
	c := newCommitter(t)
	srv := httptest.NewServer(ImportHandler(c.enqueue, nil, discardLog()))
	defer srv.Close()
	post := func(body string) *http.Response {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s", resp.Status)
	}
	for _, body := range []string{`{"files":["relative.jsonl"]}`, `{not json`} {
		if resp := post(body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s", body, resp.Status)
		}
	}

	// The stream ends with the final snapshot, done, and the error if any.
	last := func(body string) Progress {
		t.Helper()
		resp := post(body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %s %s", body, resp.Status, resp.Header.Get("Content-Type"))
		}
		var p Progress
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	path := writeImportFile(t, 10)
	req, _ := json.Marshal(ImportRequest{Files: []string{path}})
	if p := last(string(req)); !p.Done || p.Error != "" || p.Committed != 11 || p.BadLines != 1 {
		t.Errorf("import: %+v", p)
	}
	req, _ = json.Marshal(ImportRequest{Files: []string{filepath.Join(t.TempDir(), "missing.jsonl")}})
	if p := last(string(req)); !p.Done || !strings.Contains(p.Error, "no such file") {
		t.Errorf("missing file: %+v", p)
	}
}

func TestProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	pp := NewProgressPrinter(&out) // not a terminal: lines, no bar redraw
	pp.Update(Progress{Committed: 10, Bytes: 50, TotalBytes: 100})
	pp.Finish(Progress{Committed: 20, Bytes: 100, TotalBytes: 100})
	if ok, _ := regexp.MatchString(`^\[#{15}\.{15}\]  50%  10 messages  \d+ msg/s  ETA \S+\n$`, out.String()); !ok {
		t.Errorf("output %q", out.String())
	}
	if ok, _ := regexp.MatchString(`^7 messages  \d+ msg/s$`, pp.line(Progress{Committed: 7})); !ok {
		t.Errorf("line without a size: %q", pp.line(Progress{Committed: 7}))
	}
	if got := pp.line(Progress{Committed: 1, Bytes: 100, TotalBytes: 100}); !strings.Contains(got, "100%") || !strings.HasSuffix(got, "ETA -") {
		t.Errorf("complete line %q", got)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
