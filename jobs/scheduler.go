package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
)

// Defaults for Options.
const (
	DefaultHistoryPerJob   = 50               // runs kept per job
	DefaultShutdownTimeout = 15 * time.Second // wait for running jobs after ctx is done
	historyWriteTimeout    = 5 * time.Second  // bound on recording one run
)

// Options configures a Scheduler. The zero value is usable.
type Options struct {
	// Logger receives one line per run; nil discards.
	Logger *slog.Logger
	// Registerer receives the job metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// History stores finished runs; nil keeps them in memory.
	History History
	// HistoryPerJob is the number of runs the in-memory history keeps per
	// job and the number GET /jobs/{name}/runs returns; 0 means
	// DefaultHistoryPerJob. A History passed in bounds itself.
	HistoryPerJob int
	// Location interprets schedules without CRON_TZ; nil means time.Local.
	Location *time.Location
	// ShutdownTimeout bounds how long Run waits, once its ctx is done, for
	// running jobs to return; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Scheduler runs maintenance jobs on cron schedules, on demand (RunNow, Handler) and chained after each
// other. Every run of a maintenance job goes through one guard; see the
// package documentation.
type Scheduler struct {
	log             *slog.Logger
	history         History
	historyPerJob   int
	loc             *time.Location
	shutdownTimeout time.Duration
	cron            *cron.Cron
	metrics         *metrics

	mu       sync.Mutex
	entries  map[string]*entry
	order    []*entry
	base     context.Context // the context of Run, nil before Run
	started  bool
	stopping bool
	inflight sync.WaitGroup // runs started outside cron: run-now, chained, at start
}

type entry struct {
	spec    Spec
	sched   cron.Schedule // nil when Schedule is empty
	id      cron.EntryID  // 0 when not handed to cron
	running atomic.Bool

	mu   sync.Mutex
	last *Run
}

// triggerKey is the context key of a run's trigger.
type triggerKey struct{}

// StartupRun reports whether the run of ctx is a spec's OnStart run, for a
// job that does less then (the reprocess job runs at start only after a
// decoder upgrade).
func StartupRun(ctx context.Context) bool {
	t, _ := ctx.Value(triggerKey{}).(trigger)
	return t == triggerStart
}

// trigger says why a run started; it appears in the run's log line.
type trigger string

const (
	triggerSchedule trigger = "schedule"
	triggerManual   trigger = "manual"
	triggerChain    trigger = "chain"
	triggerStart    trigger = "start"
)

// NewScheduler returns a Scheduler. It registers the job metrics with
// opts.Registerer and panics if they are already registered there, like
// prometheus.MustRegister.
func NewScheduler(opts Options) *Scheduler {
	s := &Scheduler{
		log:             opts.Logger,
		history:         opts.History,
		historyPerJob:   opts.HistoryPerJob,
		loc:             opts.Location,
		shutdownTimeout: opts.ShutdownTimeout,
		entries:         map[string]*entry{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.historyPerJob <= 0 {
		s.historyPerJob = DefaultHistoryPerJob
	}
	if s.history == nil {
		s.history = NewMemoryHistory(s.historyPerJob)
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	cl := cronLogger{s.log}
	// cron.Recover is the last line of defence for a panic in the guard's
	// own bookkeeping; the guard recovers job panics itself so that they are
	// recorded as failed runs.
	s.cron = cron.New(
		cron.WithLocation(s.loc),
		cron.WithParser(parser),
		cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl)),
	)
	s.metrics = newMetrics(s)
	if opts.Registerer != nil {
		s.metrics.register(opts.Registerer)
	}
	return s
}

// Add declares a maintenance job. It validates the spec and parses the
// schedule; a bad spec is an error, never a panic. Jobs may be added before
// or while the Scheduler runs.
func (s *Scheduler) Add(spec Spec) error {
	if spec.Name == "" {
		return errors.New("add job: empty name")
	}
	if spec.Job == nil {
		return fmt.Errorf("add job %s: nil Job", spec.Name)
	}
	if spec.Timeout < 0 || spec.Jitter < 0 {
		return fmt.Errorf("add job %s: negative timeout or jitter", spec.Name)
	}
	e := &entry{spec: spec}
	e.spec.Then = slices.Clone(spec.Then)
	if spec.Schedule != "" {
		sched, err := parseSchedule(spec.Schedule)
		if err != nil {
			return fmt.Errorf("add job %s: schedule %q: %w", spec.Name, spec.Schedule, err)
		}
		e.sched = sched
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.entries[spec.Name]; dup {
		return fmt.Errorf("add job %s: duplicate name", spec.Name)
	}
	if spec.Enabled && e.sched != nil {
		e.id = s.cron.Schedule(e.sched, cron.FuncJob(func() { s.scheduled(e) }))
	}
	s.entries[spec.Name] = e
	s.order = append(s.order, e)
	s.metrics.init(spec.Name)
	return nil
}

// parser is the schedule syntax: five fields or a descriptor, with an
// optional CRON_TZ= (or TZ=) prefix.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ValidateSchedule reports whether spec is a schedule Add accepts, so that
// config validation need not import the cron library.
func ValidateSchedule(spec string) error {
	_, err := parseSchedule(spec)
	return err
}

// parseSchedule parses a schedule. cron v3's parser panics on some
// malformed input (for example "CRON_TZ=UTC" with no fields), which becomes
// an error here, and it silently runs "@every 100ms" every second, which is
// refused.
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("malformed: %v", r)
		}
	}()
	if tz, ok := strings.CutPrefix(spec, "CRON_TZ="); ok || strings.HasPrefix(spec, "TZ=") {
		if !ok {
			tz = strings.TrimPrefix(spec, "TZ=")
		}
		if _, after, _ := strings.Cut(tz, " "); strings.TrimSpace(after) == "" {
			return nil, errors.New("missing schedule after the time zone")
		}
	}
	sched, err = parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	rest := spec
	if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
		_, rest, _ = strings.Cut(rest, " ")
	}
	if d, ok := strings.CutPrefix(strings.TrimSpace(rest), "@every "); ok {
		if every, err := time.ParseDuration(strings.TrimSpace(d)); err == nil && every < time.Second {
			return nil, fmt.Errorf("@every %s: the shortest interval is 1s", every)
		}
	}
	if sched.Next(time.Now()).IsZero() {
		return nil, errors.New("the schedule never fires")
	}
	return sched, nil
}

// Run starts the cron schedules and the jobs marked OnStart, and blocks
// until ctx is done. Then it stops the schedules, cancels every running job,
// and waits for them for at most the shutdown timeout. It returns nil after
// a clean shutdown, or an error if a job was still running when the wait
// gave up.
func (s *Scheduler) Run(ctx context.Context) error {
	onStart, err := s.start(ctx)
	if err != nil {
		return err
	}
	s.cron.Start()
	if len(onStart) > 0 {
		go s.runOnStart(ctx, onStart)
	}
	<-ctx.Done()
	return s.stop()
}

// start checks the chains, marks the Scheduler started with ctx as the
// base of its runs, and returns the jobs to run at start, counted in
// inflight.
func (s *Scheduler) start(ctx context.Context) ([]*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return nil, errors.New("scheduler: Run called twice")
	}
	for _, e := range s.order {
		for _, next := range e.spec.Then {
			if _, ok := s.entries[next]; !ok {
				return nil, fmt.Errorf("scheduler: job %s chains unknown job %s", e.spec.Name, next)
			}
		}
	}
	s.started = true
	s.base = ctx
	var onStart []*entry
	for _, e := range s.order {
		if e.spec.Enabled && e.spec.OnStart {
			onStart = append(onStart, e)
		}
	}
	if len(onStart) > 0 {
		s.inflight.Add(1)
	}
	return onStart, nil
}

// runOnStart runs the jobs marked OnStart one after the other, in the
// order they were added, like CoreScope's startup pass: they share the
// writer anyway.
func (s *Scheduler) runOnStart(ctx context.Context, onStart []*entry) {
	defer s.inflight.Done()
	for _, e := range onStart {
		if ctx.Err() != nil {
			return
		}
		s.execute(ctx, e, false, triggerStart)
	}
	s.log.Info("startup jobs done", "jobs", len(onStart))
}

// stop stops the schedules and waits, at most the shutdown timeout, for
// the running jobs, which see Run's ctx done.
func (s *Scheduler) stop() error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	cronDone := s.cron.Stop() // no new scheduled runs

	all := make(chan struct{})
	go func() {
		<-cronDone.Done()
		s.inflight.Wait()
		close(all)
	}()
	timer := time.NewTimer(s.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-all:
		return nil
	case <-timer.C:
		return fmt.Errorf("scheduler: jobs still running %s after shutdown: %v", s.shutdownTimeout, s.runningNames())
	}
}

func (s *Scheduler) runningNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, e := range s.order {
		if e.running.Load() {
			names = append(names, e.spec.Name)
		}
	}
	return names
}

// scheduled is the cron entry's function: a scheduled run in Run's ctx.
func (s *Scheduler) scheduled(e *entry) {
	s.mu.Lock()
	ctx := s.base
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	s.execute(ctx, e, false, triggerSchedule)
}

// RunNow runs the named job at once, through the same guard as scheduled
// runs, and returns the finished Run. The error is nil only if the run
// succeeded: it wraps ErrUnknownJob, ErrStopping, ErrRunning (the request
// was recorded as skipped), the job's error, or context.DeadlineExceeded
// for a timeout. The run is cancelled when ctx is done or the Scheduler
// stops. Jobs in Then run afterwards, before RunNow returns.
func (s *Scheduler) RunNow(ctx context.Context, name string, dryRun bool) (Run, error) {
	s.mu.Lock()
	e, ok := s.entries[name]
	if !ok {
		s.mu.Unlock()
		return Run{}, fmt.Errorf("run %s: %w", name, ErrUnknownJob)
	}
	if s.stopping {
		s.mu.Unlock()
		return Run{}, fmt.Errorf("run %s: %w", name, ErrStopping)
	}
	base := s.base
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	if base != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(base, cancel)
		defer stop()
	}
	r, err := s.execute(ctx, e, dryRun, triggerManual)
	if err != nil {
		return r, fmt.Errorf("run %s: %w", name, err)
	}
	return r, nil
}

// execute is the guard every run goes through, whatever its trigger:
// overlap protection, jitter, timeout, panic recovery, history, metrics,
// one log line, then the chained jobs.
func (s *Scheduler) execute(ctx context.Context, e *entry, dryRun bool, why trigger) (Run, error) {
	name := e.spec.Name
	// The guard does what cron.SkipIfStillRunning does, and more: that
	// wrapper can only log a skip, and in cron v3.0.1 it never releases its
	// token if the job panics, so one panic would disable the job for good.
	if !e.running.CompareAndSwap(false, true) {
		now := time.Now()
		r := Run{Job: name, Started: now, Finished: now, Result: ResultSkipped, DryRun: dryRun,
			Err: "previous run still running"}
		s.finish(ctx, e, r, why, nil)
		return r, ErrRunning
	}
	s.metrics.running.WithLabelValues(name).Set(1)
	release := func() {
		s.metrics.running.WithLabelValues(name).Set(0)
		e.running.Store(false)
	}

	if why == triggerSchedule && !waitJitter(ctx, e.spec.Jitter) {
		release()
		return Run{Job: name, Result: ResultSkipped, Err: "stopped before start"}, ctx.Err()
	}
	r, err, stack := s.timed(ctx, e, dryRun, why)
	s.finish(ctx, e, r, why, stack)
	release()
	if why != triggerChain && !dryRun && r.Rows > 0 && ctx.Err() == nil {
		s.chain(ctx, e)
	}
	return r, err
}

// waitJitter waits a random duration in [0, jitter]; false when ctx ended
// first.
func waitJitter(ctx context.Context, jitter time.Duration) bool {
	if jitter <= 0 {
		return true
	}
	t := time.NewTimer(rand.N(jitter + 1))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// timed calls e's job under its timeout and returns its Run, with the
// stack of a panic.
func (s *Scheduler) timed(ctx context.Context, e *entry, dryRun bool, why trigger) (Run, error, []byte) {
	runCtx := context.WithValue(ctx, triggerKey{}, why)
	if e.spec.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, e.spec.Timeout)
		defer cancel()
	}
	started := time.Now()
	res, err, stack := call(runCtx, e.spec.Job, dryRun)
	r := Run{Job: e.spec.Name, Started: started, Finished: time.Now(), Rows: res.Rows, DryRun: dryRun, Detail: res.Detail}
	switch {
	case err == nil:
		r.Result = ResultSuccess
	case errors.Is(err, context.DeadlineExceeded) && runCtx.Err() != nil && ctx.Err() == nil:
		r.Result = ResultTimeout
	default:
		r.Result = ResultError
	}
	if err != nil {
		r.Err = err.Error()
	}
	return r, err, stack
}

// chain runs, one after the other, the enabled jobs e's spec chains after a
// run that changed rows.
func (s *Scheduler) chain(ctx context.Context, e *entry) {
	for _, next := range e.spec.Then {
		s.mu.Lock()
		ne := s.entries[next]
		s.mu.Unlock()
		if ne != nil && ne.spec.Enabled {
			s.execute(ctx, ne, false, triggerChain)
		}
	}
}

// call runs the job, turning a panic into an error and its stack.
func call(ctx context.Context, j Job, dryRun bool) (res Result, err error, stack []byte) {
	defer func() {
		if p := recover(); p != nil {
			err, stack = fmt.Errorf("panic: %v", p), debug.Stack()
		}
	}()
	res, err = j.Run(ctx, dryRun)
	return res, err, nil
}

// finish records a run: metrics, the last-run snapshot, history and the log.
func (s *Scheduler) finish(ctx context.Context, e *entry, r Run, why trigger, stack []byte) {
	m := s.metrics
	m.runs.WithLabelValues(r.Job, r.Result).Inc()
	if r.Result != ResultSkipped {
		m.duration.WithLabelValues(r.Job).Observe(r.Duration().Seconds())
	}
	if !r.DryRun {
		m.rows.WithLabelValues(r.Job).Add(float64(r.Rows))
		if r.Result == ResultSuccess {
			m.lastSuccess.WithLabelValues(r.Job).Set(float64(r.Finished.UnixNano()) / 1e9)
		}
	}
	e.mu.Lock()
	e.last = &r
	e.mu.Unlock()

	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), historyWriteTimeout)
	herr := s.history.RecordRun(hctx, r)
	cancel()

	attrs := []any{"job", r.Job, "result", r.Result, "rows", r.Rows, "duration", r.Duration(), "trigger", string(why)}
	if r.DryRun {
		attrs = append(attrs, "dry_run", true)
	}
	if r.Detail != "" {
		attrs = append(attrs, "detail", r.Detail)
	}
	if r.Err != "" {
		attrs = append(attrs, "err", r.Err)
	}
	if herr != nil {
		attrs = append(attrs, "history_err", herr.Error())
	}
	level := slog.LevelInfo
	switch {
	case stack != nil:
		level = slog.LevelError
		attrs = append(attrs, "stack", string(stack))
	case r.Result == ResultError && ctx.Err() != nil:
		// Interrupted by shutdown: expected, and resumed by the next run.
	case r.Result == ResultError:
		level = slog.LevelError
	case r.Result == ResultTimeout || herr != nil:
		level = slog.LevelWarn
	}
	s.log.Log(context.WithoutCancel(ctx), level, "job run", attrs...)
}

// JobStatus describes a job for listings.
type JobStatus struct {
	Name     string    `json:"name"`
	Schedule string    `json:"schedule,omitempty"`
	Enabled  bool      `json:"enabled"`
	Next     time.Time `json:"next,omitzero"` // zero when the job is not scheduled
	Running  bool      `json:"running"`
	Then     []string  `json:"then,omitempty"`
	LastRun  *Run      `json:"lastRun,omitempty"` // the last run in this process
}

// Jobs lists the jobs in the order they were added.
func (s *Scheduler) Jobs() []JobStatus {
	s.mu.Lock()
	order := slices.Clone(s.order)
	live := s.started && !s.stopping
	s.mu.Unlock()

	next := map[cron.EntryID]time.Time{}
	if live {
		for _, ce := range s.cron.Entries() {
			next[ce.ID] = ce.Next
		}
	}
	now := time.Now().In(s.loc)
	out := make([]JobStatus, 0, len(order))
	for _, e := range order {
		st := JobStatus{
			Name:     e.spec.Name,
			Schedule: e.spec.Schedule,
			Enabled:  e.spec.Enabled,
			Running:  e.running.Load(),
			Then:     e.spec.Then,
		}
		if e.id != 0 {
			if t, ok := next[e.id]; ok && live {
				st.Next = t
			} else {
				st.Next = e.sched.Next(now)
			}
		}
		e.mu.Lock()
		if e.last != nil {
			r := *e.last
			st.LastRun = &r
		}
		e.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// cronLogger sends cron's own messages to slog: its chatter at Debug, its
// errors (a panic caught by cron.Recover) at Error.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Debug("cron "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron "+msg, append(kv, "err", err)...)
}
