package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corescope/etl/jobs"
)

// TestClientNoDaemon: no address, or nothing listening at it, is
// ErrNoDaemon, saying why; a wrong credential is not.
func TestClientNoDaemon(t *testing.T) {
	ctx := context.Background()
	var list []jobs.JobStatus
	err := jobs.NewClient(jobs.ServerOptions{Listen: ""}).Do(ctx, http.MethodGet, "/jobs", &list)
	if !errors.Is(err, jobs.ErrNoDaemon) || !strings.Contains(err.Error(), "http.listen is empty") {
		t.Errorf("no address: %v, want ErrNoDaemon saying http.listen is empty", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	err = jobs.NewClient(jobs.ServerOptions{Listen: closed}).Do(ctx, http.MethodGet, "/jobs", &list)
	if !errors.Is(err, jobs.ErrNoDaemon) || errors.Unwrap(err) == nil {
		t.Errorf("nothing listening: %v, want ErrNoDaemon with its cause", err)
	}
	if _, err := jobs.NewClient(jobs.ServerOptions{Listen: closed}).Post(ctx, "/import", strings.NewReader("{}")); !errors.Is(err, jobs.ErrNoDaemon) {
		t.Errorf("Post, nothing listening: %v, want ErrNoDaemon", err)
	}

	addr := serve(t, serverHarness(t), jobs.ServerOptions{BearerToken: "tok3n"}).Addr()
	err = jobs.NewClient(jobs.ServerOptions{Listen: addr, BearerToken: "wrong"}).Do(ctx, http.MethodGet, "/jobs", &list)
	if err == nil || errors.Is(err, jobs.ErrNoDaemon) || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("wrong token: %v, want unauthorized", err)
	}
}

// TestClientWildcardListen: a daemon listening on every interface is
// reached on loopback.
func TestClientWildcardListen(t *testing.T) {
	addr := serve(t, serverHarness(t), jobs.ServerOptions{BearerToken: "tok3n"}).Addr()
	_, port, _ := net.SplitHostPort(addr)
	for _, listen := range []string{":" + port, "0.0.0.0:" + port} {
		c := jobs.NewClient(jobs.ServerOptions{Listen: listen, BearerToken: "tok3n"})
		if c.URL() != "http://127.0.0.1:"+port {
			t.Errorf("listen %q: URL %q", listen, c.URL())
		}
		var list []jobs.JobStatus
		if err := c.Do(context.Background(), http.MethodGet, "/jobs", &list); err != nil || len(list) != 2 {
			t.Errorf("listen %q: %v, %v", listen, list, err)
		}
	}
}

// TestClientConflict: a run of a job that is still running is ErrConflict.
func TestClientConflict(t *testing.T) {
	h := newHarness(t, jobs.Options{})
	started, release := make(chan struct{}), make(chan struct{})
	h.add(t, jobs.Spec{Name: "block", Enabled: true,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
			close(started)
			<-release
			return jobs.Result{}, nil
		})})
	h.start(t)
	defer h.stop(t)
	c := jobs.NewClient(jobs.ServerOptions{Listen: serve(t, h, jobs.ServerOptions{}).Addr()})
	done := make(chan error, 1)
	go func() {
		var r jobs.Run
		done <- c.Do(context.Background(), http.MethodPost, "/jobs/block/run", &r)
	}()
	<-started
	var r jobs.Run
	if err := c.Do(context.Background(), http.MethodPost, "/jobs/block/run", &r); !errors.Is(err, jobs.ErrConflict) {
		t.Errorf("overlapping run: %v, want ErrConflict", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("the first run: %v", err)
	}
}

// TestClientPost: Post sends a JSON body with the credentials and hands
// back the response as it streams.
func TestClientPost(t *testing.T) {
	h := serverHarness(t)
	imp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write([]byte(r.Header.Get("Content-Type") + " " + string(body)))
	})
	addr := serve(t, h, jobs.ServerOptions{Username: "admin", Password: "pw", Import: imp}).Addr()
	resp, err := jobs.NewClient(jobs.ServerOptions{Listen: addr, Username: "admin", Password: "pw"}).Post(context.Background(), "/import", strings.NewReader(`{"files":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(b) != `application/json {"files":[]}` {
		t.Errorf("POST /import: %d %s", resp.StatusCode, b)
	}
}

func TestWriteTable(t *testing.T) {
	at := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	list := []jobs.JobStatus{
		{Name: "prune", Schedule: "@daily", Enabled: true, Next: at.Add(24 * time.Hour), Then: []string{"vacuum"},
			LastRun: &jobs.Run{Job: "prune", Started: at, Finished: at.Add(1500 * time.Millisecond), Result: jobs.ResultSuccess, Rows: 7, DryRun: true}},
		{Name: "vacuum", Enabled: true, Running: true},
		{Name: "once"},
	}
	var b bytes.Buffer
	if err := jobs.WriteTable(&b, list); err != nil {
		t.Fatal(err)
	}
	const want = `NAME    SCHEDULE  ENABLED  RUNNING  NEXT RUN              LAST RUN              RESULT             ROWS  DURATION
prune   @daily    yes      no       2026-05-02T03:00:00Z  2026-05-01T03:00:00Z  success (dry run)  7     1.5s
vacuum  chained   yes      yes      -                     -                     -                  -     -
once    -         no       no       -                     -                     -                  -     -
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteRun(t *testing.T) {
	at := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	r := jobs.Run{Job: "prune", Started: at, Finished: at.Add(2 * time.Second), Result: jobs.ResultError, Rows: 4,
		DryRun: true, Detail: "transmissions=4", Err: "database is locked"}
	if err := jobs.WriteRun(&b, r); err != nil {
		t.Fatal(err)
	}
	const want = "prune: error (dry run), 4 rows in 2s\n  transmissions=4\n  error: database is locked\n"
	if b.String() != want {
		t.Errorf("WriteRun = %q, want %q", b.String(), want)
	}
}
