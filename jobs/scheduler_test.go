package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/corescope/etl/jobs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// harness runs a Scheduler in the background of a test.
type harness struct {
	s      *jobs.Scheduler
	reg    *prometheus.Registry
	hist   *jobs.MemoryHistory
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, opts jobs.Options) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), hist: jobs.NewMemoryHistory(opts.HistoryPerJob)}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.History == nil {
		opts.History = h.hist
	}
	opts.Registerer = h.reg
	h.s = jobs.NewScheduler(opts)
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.s.Run(ctx) }()
}

func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	return <-h.done
}

func (h *harness) add(t *testing.T, spec jobs.Spec) {
	t.Helper()
	if err := h.s.Add(spec); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) runs(t *testing.T, job string) []jobs.Run {
	t.Helper()
	runs, err := h.hist.LastRuns(context.Background(), job, 100)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// metric returns the value of the series name{labels}, or -1 if absent.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	return -1
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// times records when a job ran.
type times struct {
	mu sync.Mutex
	at []time.Time
}

func (ts *times) job(rows int64) jobs.Job {
	return jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
		ts.mu.Lock()
		ts.at = append(ts.at, time.Now())
		ts.mu.Unlock()
		return jobs.Result{Rows: rows}, nil
	})
}

func (ts *times) get() []time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]time.Time(nil), ts.at...)
}

func TestScheduleFiresAtTheScheduledTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var ts times
		h.add(t, jobs.Spec{Name: "daily", Schedule: "0 3 * * *", Enabled: true, Job: ts.job(7)})
		start := time.Now().UTC() // synctest's epoch: 2000-01-01 00:00 UTC
		h.start(t)

		time.Sleep(3*time.Hour - time.Second)
		synctest.Wait()
		if fired := ts.get(); len(fired) != 0 {
			t.Fatalf("fired early at %v", fired)
		}
		next := metric(t, h.reg, "corescope_job_next_run_timestamp_seconds", map[string]string{"job_name": "daily"})
		if want := float64(start.Add(3 * time.Hour).Unix()); next != want {
			t.Errorf("next run metric = %v, want %v", next, want)
		}

		time.Sleep(2 * time.Second)
		synctest.Wait()
		if fired := ts.get(); len(fired) != 1 || !fired[0].Equal(start.Add(3*time.Hour)) {
			t.Fatalf("fired at %v, want once at %v", fired, start.Add(3*time.Hour))
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if fired := ts.get(); len(fired) != 2 || !fired[1].Equal(start.Add(27*time.Hour)) {
			t.Fatalf("fired at %v, want a second run at %v", fired, start.Add(27*time.Hour))
		}
		if err := h.stop(t); err != nil {
			t.Fatal(err)
		}
		if got := metric(t, h.reg, "corescope_job_runs_total", map[string]string{"job_name": "daily", "result": "success"}); got != 2 {
			t.Errorf("runs_total{success} = %v, want 2", got)
		}
		if got := metric(t, h.reg, "corescope_job_rows_affected_total", map[string]string{"job_name": "daily"}); got != 14 {
			t.Errorf("rows_affected_total = %v, want 14", got)
		}
		if got := metric(t, h.reg, "corescope_job_last_success_timestamp_seconds", map[string]string{"job_name": "daily"}); got != float64(start.Add(27*time.Hour).Unix()) {
			t.Errorf("last_success = %v", got)
		}
		runs := h.runs(t, "daily")
		if len(runs) != 2 || runs[0].Result != jobs.ResultSuccess || runs[0].Rows != 7 {
			t.Errorf("history = %+v", runs)
		}
	})
}

func TestCronTZAndLocation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var at atomic.Pointer[time.Time]
		h.add(t, jobs.Spec{Name: "tz", Schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				now := time.Now()
				at.Store(&now)
				return jobs.Result{}, nil
			})})
		h.start(t)
		time.Sleep(25 * time.Hour)
		synctest.Wait()
		got := at.Load()
		// 09:00 in Tokyo is 00:00 UTC: the first run is the next day's midnight UTC.
		if got == nil || got.UTC().Hour() != 0 || got.UTC().Day() != 2 {
			t.Fatalf("ran at %v, want 2000-01-02T00:00Z", got)
		}
		h.stop(t)
	})
}

func TestOverlappingRunIsSkippedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		release := make(chan struct{})
		var started atomic.Int32
		h.add(t, jobs.Spec{Name: "slow", Schedule: "@every 1m", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				started.Add(1)
				<-release
				return jobs.Result{Rows: 1}, nil
			})})
		h.start(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		if started.Load() != 1 {
			t.Fatalf("started = %d, want 1", started.Load())
		}
		if got := metric(t, h.reg, "corescope_job_running", map[string]string{"job_name": "slow"}); got != 1 {
			t.Errorf("running gauge = %v, want 1", got)
		}
		time.Sleep(2 * time.Minute) // two more firings while the first run is going
		synctest.Wait()
		if started.Load() != 1 {
			t.Fatalf("started = %d, want still 1", started.Load())
		}
		// Run-now goes through the same guard: it is refused and counted too.
		run, err := h.s.RunNow(t.Context(), "slow", false)
		if !errors.Is(err, jobs.ErrRunning) || run.Result != jobs.ResultSkipped {
			t.Fatalf("RunNow = %+v, %v; want skipped, ErrRunning", run, err)
		}
		if got := metric(t, h.reg, "corescope_job_runs_total", map[string]string{"job_name": "slow", "result": "skipped"}); got != 3 {
			t.Errorf("runs_total{skipped} = %v, want 3", got)
		}
		close(release)
		synctest.Wait()
		if got := metric(t, h.reg, "corescope_job_running", map[string]string{"job_name": "slow"}); got != 0 {
			t.Errorf("running gauge = %v, want 0", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if started.Load() != 2 {
			t.Fatalf("started = %d, want 2 once the first run finished", started.Load())
		}
		h.stop(t)
		var skipped, success int
		for _, r := range h.runs(t, "slow") {
			switch r.Result {
			case jobs.ResultSkipped:
				skipped++
			case jobs.ResultSuccess:
				success++
			}
		}
		if skipped != 3 || success != 2 {
			t.Errorf("history: %d skipped, %d success; want 3, 2", skipped, success)
		}
	})
}

func TestPanicIsRecoveredAndRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{Logger: slog.New(slog.DiscardHandler)})
		var calls atomic.Int32
		h.add(t, jobs.Spec{Name: "boom", Schedule: "@every 1h", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				calls.Add(1)
				panic("kaboom")
			})})
		h.start(t)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		// The job still runs after a panic: the overlap guard was released.
		if calls.Load() != 2 {
			t.Fatalf("calls = %d, want 2", calls.Load())
		}
		runs := h.runs(t, "boom")
		if len(runs) != 2 || runs[0].Result != jobs.ResultError || !strings.Contains(runs[0].Err, "panic: kaboom") {
			t.Fatalf("history = %+v", runs)
		}
		if got := metric(t, h.reg, "corescope_job_runs_total", map[string]string{"job_name": "boom", "result": "error"}); got != 2 {
			t.Errorf("runs_total{error} = %v, want 2", got)
		}
		run, err := h.s.RunNow(t.Context(), "boom", false)
		if err == nil || run.Result != jobs.ResultError || !strings.Contains(err.Error(), "kaboom") {
			t.Errorf("RunNow of a panicking job = %+v, %v", run, err)
		}
		if err := h.stop(t); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTimeoutCancelsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		h.add(t, jobs.Spec{Name: "stuck", Schedule: "@every 1h", Enabled: true, Timeout: 30 * time.Second,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				<-ctx.Done()
				return jobs.Result{Rows: 3}, ctx.Err()
			})})
		h.start(t)
		time.Sleep(time.Hour + 29*time.Second)
		synctest.Wait()
		if len(h.runs(t, "stuck")) != 0 {
			t.Fatal("finished before its timeout")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		runs := h.runs(t, "stuck")
		if len(runs) != 1 || runs[0].Result != jobs.ResultTimeout || runs[0].Rows != 3 || runs[0].Duration() != 30*time.Second {
			t.Fatalf("history = %+v", runs)
		}
		if got := metric(t, h.reg, "corescope_job_runs_total", map[string]string{"job_name": "stuck", "result": "timeout"}); got != 1 {
			t.Errorf("runs_total{timeout} = %v", got)
		}
		h.stop(t)
	})
}

func TestJitterDelaysScheduledRunsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var ts times
		h.add(t, jobs.Spec{Name: "j", Schedule: "@every 1h", Enabled: true, Jitter: 10 * time.Minute, Job: ts.job(0)})
		start := time.Now()
		h.start(t)
		run, err := h.s.RunNow(t.Context(), "j", false)
		if err != nil || !run.Started.Equal(start) {
			t.Fatalf("RunNow = %+v, %v; want it to start at once", run, err)
		}
		time.Sleep(time.Hour + 10*time.Minute)
		synctest.Wait()
		at := ts.get()
		if len(at) != 2 {
			t.Fatalf("runs at %v", at)
		}
		if d := at[1].Sub(start); d < time.Hour || d > time.Hour+10*time.Minute {
			t.Errorf("scheduled run at +%v, want within [1h, 1h10m]", d)
		}
		h.stop(t)
	})
}

func TestChainRunsAfterRowsAreAffected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var rows atomic.Int64
		var vacuums atomic.Int32
		h.add(t, jobs.Spec{Name: "prune", Enabled: true, Then: []string{"vacuum"},
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				return jobs.Result{Rows: rows.Load()}, nil
			})})
		h.add(t, jobs.Spec{Name: "vacuum", Enabled: true, // no schedule: chained only
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				vacuums.Add(1)
				return jobs.Result{}, nil
			})})
		h.start(t)
		if _, err := h.s.RunNow(t.Context(), "prune", false); err != nil {
			t.Fatal(err)
		}
		if vacuums.Load() != 0 {
			t.Fatal("vacuum chained after a prune that deleted nothing")
		}
		rows.Store(10)
		if _, err := h.s.RunNow(t.Context(), "prune", true); err != nil {
			t.Fatal(err)
		}
		if vacuums.Load() != 0 {
			t.Fatal("vacuum chained after a dry run")
		}
		if _, err := h.s.RunNow(t.Context(), "prune", false); err != nil {
			t.Fatal(err)
		}
		if vacuums.Load() != 1 {
			t.Fatalf("vacuums = %d, want 1", vacuums.Load())
		}
		for _, j := range h.s.Jobs() {
			if j.Name == "vacuum" && !j.Next.IsZero() {
				t.Errorf("unscheduled job has next run %v", j.Next)
			}
		}
		h.stop(t)
	})
}

func TestOnStartAndDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var onStart, disabled atomic.Int32
		h.add(t, jobs.Spec{Name: "boot", Schedule: "@daily", Enabled: true, OnStart: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				onStart.Add(1)
				return jobs.Result{}, nil
			})})
		h.add(t, jobs.Spec{Name: "off", Schedule: "@every 1m", Enabled: false, OnStart: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				disabled.Add(1)
				return jobs.Result{}, nil
			})})
		h.start(t)
		time.Sleep(time.Hour)
		synctest.Wait()
		if onStart.Load() != 1 || disabled.Load() != 0 {
			t.Fatalf("onStart=%d disabled=%d, want 1, 0", onStart.Load(), disabled.Load())
		}
		// A disabled job can still be run on demand.
		if _, err := h.s.RunNow(t.Context(), "off", false); err != nil || disabled.Load() != 1 {
			t.Fatalf("RunNow(off): %v, runs %d", err, disabled.Load())
		}
		st := h.s.Jobs()
		if len(st) != 2 || st[0].Name != "boot" || st[0].Next.IsZero() || st[1].Enabled || !st[1].Next.IsZero() {
			t.Errorf("Jobs() = %+v", st)
		}
		h.stop(t)
	})
}

func TestOnStartJobsRunInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		var mu sync.Mutex
		var order []string
		var running atomic.Int32
		for _, name := range []string{"a", "b", "c"} {
			h.add(t, jobs.Spec{Name: name, Schedule: "@daily", Enabled: true, OnStart: true,
				Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
					if running.Add(1) > 1 {
						t.Error("start jobs overlap")
					}
					time.Sleep(time.Second)
					mu.Lock()
					order = append(order, name)
					mu.Unlock()
					running.Add(-1)
					return jobs.Result{}, nil
				})})
		}
		h.start(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		got := strings.Join(order, "")
		mu.Unlock()
		if got != "abc" {
			t.Errorf("start order %q, want abc", got)
		}
		h.stop(t)
	})
}

func TestShutdownCancelsRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{})
		h.add(t, jobs.Spec{Name: "long", Schedule: "@every 1m", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				<-ctx.Done()
				return jobs.Result{Rows: 2}, ctx.Err()
			})})
		h.start(t)
		time.Sleep(90 * time.Second)
		synctest.Wait()
		if err := h.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil after a clean shutdown", err)
		}
		runs := h.runs(t, "long")
		if len(runs) != 1 || runs[0].Result != jobs.ResultError || runs[0].Rows != 2 {
			t.Fatalf("history = %+v", runs)
		}
		if _, err := h.s.RunNow(t.Context(), "long", false); !errors.Is(err, jobs.ErrStopping) {
			t.Errorf("RunNow after shutdown: %v, want ErrStopping", err)
		}
	})
}

func TestShutdownWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{ShutdownTimeout: 5 * time.Second})
		release := make(chan struct{})
		h.add(t, jobs.Spec{Name: "deaf", Schedule: "@every 1m", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				<-release // ignores ctx
				return jobs.Result{}, nil
			})})
		h.start(t)
		time.Sleep(time.Minute)
		synctest.Wait()
		t0 := time.Now()
		err := h.stop(t)
		if err == nil || !strings.Contains(err.Error(), "deaf") || time.Since(t0) != 5*time.Second {
			t.Fatalf("Run = %v after %v, want an error naming the job after 5s", err, time.Since(t0))
		}
		close(release)
		synctest.Wait()
	})
}

func TestAddRejectsBadSpecs(t *testing.T) {
	noop := jobs.JobFunc(func(context.Context, bool) (jobs.Result, error) { return jobs.Result{}, nil })
	s := jobs.NewScheduler(jobs.Options{})
	if err := s.Add(jobs.Spec{Name: "ok", Schedule: "*/5 * * * *", Enabled: true, Job: noop}); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []jobs.Spec{
		{Name: "a", Schedule: "@dailyy", Job: noop},
		{Name: "b", Schedule: "61 * * * *", Job: noop},
		{Name: "c", Schedule: "* * * * * *", Job: noop}, // no seconds field
		{Name: "d", Schedule: "CRON_TZ=UTC", Job: noop}, // panics inside cron's parser
		{Name: "e", Schedule: "CRON_TZ=Mars/Base 0 * * * *", Job: noop},
		{Name: "h", Schedule: "@every 100ms", Job: noop}, // cron would run it every second
		{Name: "i", Schedule: "CRON_TZ=UTC @every 10ms", Job: noop},
		{Name: "", Schedule: "@daily", Job: noop},
		{Name: "f", Schedule: "@daily"},
		{Name: "ok", Schedule: "@daily", Job: noop},
		{Name: "g", Timeout: -time.Second, Job: noop},
	} {
		if err := s.Add(spec); err == nil {
			t.Errorf("Add(%+v) = nil, want an error", spec)
		}
	}
	for _, ok := range []string{"@every 1s", "CRON_TZ=Europe/Paris 30 2 * * 1-5", "@hourly", "TZ=UTC @daily"} {
		if err := jobs.ValidateSchedule(ok); err != nil {
			t.Errorf("ValidateSchedule(%q) = %v", ok, err)
		}
	}
	if err := jobs.ValidateSchedule("CRON_TZ=UTC"); err == nil {
		t.Error("ValidateSchedule accepted a zone without a schedule")
	}
	if err := s.Add(jobs.Spec{Name: "chain", Job: noop, Then: []string{"nope"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Run with an unknown chained job = %v", err)
	}
}

func TestMemoryHistoryIsBounded(t *testing.T) {
	h := jobs.NewMemoryHistory(3)
	ctx := context.Background()
	for i := range 5 {
		h.RecordRun(ctx, jobs.Run{Job: "a", Rows: int64(i)})
		h.RecordRun(ctx, jobs.Run{Job: "b", Rows: int64(i)})
	}
	runs, _ := h.LastRuns(ctx, "a", 10)
	if len(runs) != 3 || runs[0].Rows != 4 || runs[2].Rows != 2 {
		t.Fatalf("LastRuns = %+v, want rows 4,3,2", runs)
	}
	runs, _ = h.LastRuns(ctx, "b", 1)
	if len(runs) != 1 || runs[0].Rows != 4 {
		t.Fatalf("LastRuns(b, 1) = %+v", runs)
	}
}

func TestHistoryBoundedThroughScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, jobs.Options{HistoryPerJob: 4})
		h.add(t, jobs.Spec{Name: "m", Schedule: "@every 1m", Enabled: true,
			Job: jobs.JobFunc(func(ctx context.Context, dryRun bool) (jobs.Result, error) {
				return jobs.Result{Rows: 1}, nil
			})})
		h.start(t)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		h.stop(t)
		if got := len(h.runs(t, "m")); got != 4 {
			t.Fatalf("history holds %d runs, want 4", got)
		}
		if got := metric(t, h.reg, "corescope_job_runs_total", map[string]string{"job_name": "m", "result": "success"}); got != 10 {
			t.Errorf("runs_total = %v, want 10", got)
		}
	})
}
