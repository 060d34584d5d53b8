package sqlite

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// Writer instrumentation: every acquisition of the write connection is
// measured and filed under the component label its caller put in the
// context (WithComponent), for CoreScope's writer_perf panel.

// Component labels of the writer's users that are not jobs (jobs use their
// own names).
const (
	// ComponentIngest labels Apply, the ingest path; CoreScope calls it
	// mqtt_handler.
	ComponentIngest = "mqtt_handler"
	// ComponentMaintenance labels a WriteChunk or WithWriteConn whose
	// context carries no label.
	ComponentMaintenance = "maintenance"
	// ComponentOther labels the remaining unlabelled users (Close,
	// migrations).
	ComponentOther = "other"
)

// writerPerfWindow is the number of recent acquisitions per component that
// the percentiles and maxima are computed over.
const writerPerfWindow = 1024

type componentKey struct{}

// WithComponent returns ctx labelled with the writer component name, under
// which the write-connection waits and holds of calls made with it are
// measured (WriterPerf). Labels must be few and fixed: a job's name, not a
// key.
func WithComponent(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, componentKey{}, name)
}

func componentOf(ctx context.Context, def string) string {
	if s, ok := ctx.Value(componentKey{}).(string); ok && s != "" {
		return s
	}
	return def
}

// WriterPerf is the measured use of the write connection by one component:
// CoreScope's writer_perf entry. Percentiles and maxima cover the most
// recent acquisitions (up to 1024); Count and ContentionTotal count since
// Open.
type WriterPerf struct {
	// Count is the acquisitions of the writer.
	Count uint64 `json:"count"`
	// ContentionTotal is the acquisitions that found the writer busy and
	// had to wait for another user (or, for maintenance, for ingest).
	ContentionTotal uint64 `json:"contention_total"`
	// Wait* are the time from asking for the writer to getting it, in
	// milliseconds.
	WaitP50 float64 `json:"wait_ms_p50"`
	WaitP95 float64 `json:"wait_ms_p95"`
	WaitP99 float64 `json:"wait_ms_p99"`
	WaitMax float64 `json:"wait_ms_max"`
	// Hold* are the time the writer was held, in milliseconds.
	HoldP50 float64 `json:"hold_ms_p50"`
	HoldP95 float64 `json:"hold_ms_p95"`
	HoldP99 float64 `json:"hold_ms_p99"`
	HoldMax float64 `json:"hold_ms_max"`
}

// writerPerf collects the samples of every component.
type writerPerf struct {
	mu    sync.Mutex
	comps map[string]*compPerf
}

type compPerf struct {
	count, contention uint64
	next              int
	filled            int
	wait, hold        [writerPerfWindow]time.Duration
}

func (p *writerPerf) record(component string, wait, hold time.Duration, contended bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.comps == nil {
		p.comps = map[string]*compPerf{}
	}
	c := p.comps[component]
	if c == nil {
		c = &compPerf{}
		p.comps[component] = c
	}
	c.count++
	if contended {
		c.contention++
	}
	c.wait[c.next], c.hold[c.next] = wait, hold
	c.next = (c.next + 1) % writerPerfWindow
	c.filled = min(c.filled+1, writerPerfWindow)
}

// WriterPerf returns the writer's use per component label (see
// WithComponent), for the stats file's writer_perf.
func (db *DB) WriterPerf() map[string]WriterPerf {
	p := &db.gate.perf
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]WriterPerf, len(p.comps))
	for _, name := range slices.Sorted(maps.Keys(p.comps)) {
		c := p.comps[name]
		w := quantiles(c.wait[:c.filled])
		h := quantiles(c.hold[:c.filled])
		out[name] = WriterPerf{
			Count: c.count, ContentionTotal: c.contention,
			WaitP50: w[0], WaitP95: w[1], WaitP99: w[2], WaitMax: w[3],
			HoldP50: h[0], HoldP95: h[1], HoldP99: h[2], HoldMax: h[3],
		}
	}
	return out
}

// quantiles returns p50, p95, p99 and max of ds in milliseconds, rounded to
// microseconds (nearest-rank percentiles).
func quantiles(ds []time.Duration) [4]float64 {
	var q [4]float64
	if len(ds) == 0 {
		return q
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return [4]float64{ms(rank(0.50)), ms(rank(0.95)), ms(rank(0.99)), ms(s[len(s)-1])}
}
