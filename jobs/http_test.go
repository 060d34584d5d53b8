package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/corescope/etl/jobs"
)

func TestHandlerOverHTTP(t *testing.T) {
	h := newHarness(t, jobs.Options{})
	started := make(chan struct{})
	release := make(chan struct{})
	h.add(t, jobs.Spec{Name: "prune", Schedule: "@daily", Enabled: true,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
			if dryRun {
				return jobs.Result{Rows: 42, Detail: "would delete"}, nil
			}
			return jobs.Result{Rows: 5}, nil
		})})
	h.add(t, jobs.Spec{Name: "block", Enabled: true,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
			close(started)
			<-release
			return jobs.Result{}, nil
		})})
	h.start(t)
	defer h.stop(t)
	srv := httptest.NewServer(h.s.Handler())
	defer srv.Close()

	post := func(path string) (int, jobs.Run) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r jobs.Run
		json.NewDecoder(resp.Body).Decode(&r)
		return resp.StatusCode, r
	}

	if code, r := post("/jobs/prune/run?dryRun=1"); code != 200 || r.Result != jobs.ResultSuccess || !r.DryRun || r.Rows != 42 || r.Detail != "would delete" {
		t.Errorf("dry run: %d %+v", code, r)
	}
	if code, r := post("/jobs/prune/run"); code != 200 || r.DryRun || r.Rows != 5 || r.Job != "prune" {
		t.Errorf("run: %d %+v", code, r)
	}
	if code, _ := post("/jobs/nope/run"); code != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", code)
	}
	if code, _ := post("/jobs/prune/run?dryRun=maybe"); code != http.StatusBadRequest {
		t.Errorf("bad dryRun: %d, want 400", code)
	}

	done := make(chan int)
	go func() { code, _ := post("/jobs/block/run"); done <- code }()
	<-started
	if code, r := post("/jobs/block/run"); code != http.StatusConflict || r.Result != jobs.ResultSkipped {
		t.Errorf("overlapping run: %d %+v, want 409 skipped", code, r)
	}

	resp, err := http.Get(srv.URL + "/jobs")
	if err != nil {
		t.Fatal(err)
	}
	var list []jobs.JobStatus
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 2 || list[0].Name != "prune" || list[0].Next.IsZero() || list[0].LastRun == nil ||
		list[0].LastRun.Rows != 5 || !list[1].Running {
		t.Errorf("GET /jobs = %+v", list)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("blocked run: %d", code)
	}

	resp, err = http.Get(srv.URL + "/jobs/prune/runs?n=1")
	if err != nil {
		t.Fatal(err)
	}
	var runs []jobs.Run
	json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if len(runs) != 1 || runs[0].Rows != 5 {
		t.Errorf("GET runs = %+v", runs)
	}
	if resp, _ := http.Get(srv.URL + "/jobs/prune/run"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on the run endpoint: %d", resp.StatusCode)
	}
}

// TestHandlerDisabledJob: a job with Enabled false is refused with 409 and
// does not run.
func TestHandlerDisabledJob(t *testing.T) {
	h := newHarness(t, jobs.Options{})
	var ran atomic.Int32
	h.add(t, jobs.Spec{Name: "off", Schedule: "@daily", Enabled: false,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
			ran.Add(1)
			return jobs.Result{}, nil
		})})
	h.start(t)
	defer h.stop(t)
	srv := httptest.NewServer(h.s.Handler())
	defer srv.Close()
	for _, path := range []string{"/jobs/off/run", "/jobs/off/run?dryRun=1"} {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(e.Error, "disabled") {
			t.Errorf("POST %s: %d %q, want 409 saying the job is disabled", path, resp.StatusCode, e.Error)
		}
	}
	if n := ran.Load(); n != 0 || len(h.runs(t, "off")) != 0 {
		t.Errorf("the disabled job ran %d times (history %v)", n, h.runs(t, "off"))
	}
}

// TestHandlerRunOutlivesServerDeadlines runs a job that lasts longer than
// the server's read and write timeouts: the run is not cancelled and its
// result is delivered, not cut by the write deadline.
func TestHandlerRunOutlivesServerDeadlines(t *testing.T) {
	h := newHarness(t, jobs.Options{})
	const deadline = 50 * time.Millisecond
	h.add(t, jobs.Spec{Name: "slow", Enabled: true,
		Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
			select { // work that outlasts both deadlines
			case <-time.After(10 * deadline):
				return jobs.Result{Rows: 1}, nil
			case <-ctx.Done():
				return jobs.Result{}, ctx.Err()
			}
		})})
	h.start(t)
	defer h.stop(t)
	srv := httptest.NewUnstartedServer(h.s.Handler())
	srv.Config.ReadTimeout = deadline
	srv.Config.WriteTimeout = deadline
	srv.Start()
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/jobs/slow/run", "", nil)
	if err != nil {
		t.Fatalf("POST: %v (the response was cut by the server's deadline)", err)
	}
	defer resp.Body.Close()
	var r jobs.Run
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusOK || r.Result != jobs.ResultSuccess || r.Rows != 1 {
		t.Errorf("slow run: %d %+v, want 200 success", resp.StatusCode, r)
	}
}
