package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/corescope/etl/etl/sqlite"
)

// pollInterval is how often the verifier reads new transmissions: the
// resolution of the measured latency.
const pollInterval = 20 * time.Millisecond

// countInterval is how often the verifier counts observations (a heavier query).
const countInterval = time.Second

// verifier watches the ingestor's database while the load generator
// publishes: it records when each published packet's hash first becomes
// visible in transmissions.
type verifier struct {
	db   *sql.DB
	path string

	startTx, startObs int64 // max ids before publishing

	mu        sync.Mutex
	published map[string]time.Time // hash → publish time of its first copy
	latency   []time.Duration      // per found hash
	found     map[string]bool
	lastTx    int64 // highest transmissions.id read
	newTx     int64 // transmissions rows read (ids have gaps: a conflicting insert uses one up)
	obs       int64 // observations with id > startObs, at the last count
	changedAt time.Time

	stop chan struct{}
	done chan struct{}
	err  error // the poller's first error
}

// report is the -verify-db result.
type report struct {
	DB                    string         `json:"db"`
	ExpectedTransmissions uint64         `json:"expected_transmissions"` // unique packets published
	FoundTransmissions    int            `json:"found_transmissions"`    // of those, present in transmissions
	Missing               uint64         `json:"missing"`
	NewTransmissions      int64          `json:"new_transmissions"`     // all rows added meanwhile
	ExpectedObservations  uint64         `json:"expected_observations"` // valid packet messages published
	NewObservations       int64          `json:"new_observations"`
	LatencyMS             map[string]any `json:"latency_ms"` // publish → visible in transmissions
	PollIntervalMS        int64          `json:"poll_interval_ms"`
	WaitedSeconds         float64        `json:"waited_seconds"` // after publishing ended
}

// openVerifier opens path read-only, reads the current maximum ids, and
// starts polling.
func openVerifier(ctx context.Context, path string) (*verifier, error) {
	db, err := sqlite.OpenReadOnly(path, 1)
	if err != nil {
		return nil, fmt.Errorf("verify-db: %w", err)
	}
	v := &verifier{db: db, path: path, published: map[string]time.Time{}, found: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{}), changedAt: time.Now()}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM transmissions`).Scan(&v.startTx); err != nil {
		db.Close()
		return nil, fmt.Errorf("verify-db %s: %w", path, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM observations`).Scan(&v.startObs); err != nil {
		db.Close()
		return nil, fmt.Errorf("verify-db %s: %w", path, err)
	}
	v.lastTx = v.startTx
	go v.poll()
	return v, nil
}

// markPublished records the publish time of a unique packet's first copy.
func (v *verifier) markPublished(hash string, t time.Time) {
	v.mu.Lock()
	v.published[hash] = t
	v.mu.Unlock()
}

func (v *verifier) poll() {
	defer close(v.done)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	lastCount := time.Time{}
	for {
		select {
		case <-v.stop:
			return
		case <-tick.C:
		}
		if err := v.readTransmissions(); err != nil {
			v.err = err
			return
		}
		if time.Since(lastCount) >= countInterval {
			lastCount = time.Now()
			if err := v.countObservations(); err != nil {
				v.err = err
				return
			}
		}
	}
}

func (v *verifier) readTransmissions() error {
	v.mu.Lock()
	after := v.lastTx
	v.mu.Unlock()
	rows, err := v.db.Query(`SELECT id, hash FROM transmissions WHERE id > ? ORDER BY id`, after)
	if err != nil {
		return fmt.Errorf("verify-db: read transmissions: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for rows.Next() {
		var id int64
		var hash string
		if err := rows.Scan(&id, &hash); err != nil {
			return fmt.Errorf("verify-db: read transmissions: %w", err)
		}
		v.lastTx = id
		v.newTx++
		v.changedAt = now
		if t, ok := v.published[hash]; ok && !v.found[hash] {
			v.found[hash] = true
			v.latency = append(v.latency, now.Sub(t))
		}
	}
	return rows.Err()
}

func (v *verifier) countObservations() error {
	var n int64
	v.mu.Lock()
	start := v.startObs
	v.mu.Unlock()
	if err := v.db.QueryRow(`SELECT COUNT(*) FROM observations WHERE id > ?`, start).Scan(&n); err != nil {
		return fmt.Errorf("verify-db: count observations: %w", err)
	}
	v.mu.Lock()
	if n != v.obs {
		v.obs = n
		v.changedAt = time.Now()
	}
	v.mu.Unlock()
	return nil
}

// finish waits after publishing until the database has settled, then
// reports. Settled means: nothing new for settle; or every published packet
// is visible and an observation count after the last change saw nothing new.
// It gives up waiting after timeout.
func (v *verifier) finish(ctx context.Context, s summary, timeout, settle time.Duration) (report, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return report{}, ctx.Err()
		case <-v.done:
			return report{}, v.err
		case <-tick.C:
		}
		v.mu.Lock()
		quiet := time.Since(v.changedAt)
		all := len(v.found) >= len(v.published)
		v.mu.Unlock()
		if quiet >= settle || all && quiet > countInterval+pollInterval || time.Now().After(deadline) {
			break
		}
	}
	close(v.stop)
	<-v.done
	if v.err != nil {
		return report{}, v.err
	}
	if err := v.countObservations(); err != nil {
		return report{}, err
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	r := report{
		DB:                    v.path,
		ExpectedTransmissions: s.UniquePackets,
		FoundTransmissions:    len(v.found),
		NewTransmissions:      v.newTx,
		ExpectedObservations:  s.Packet,
		NewObservations:       v.obs,
		PollIntervalMS:        pollInterval.Milliseconds(),
		WaitedSeconds:         round3(time.Since(start).Seconds()),
		LatencyMS:             latencyStats(v.latency),
	}
	if uint64(len(v.found)) < s.UniquePackets {
		r.Missing = s.UniquePackets - uint64(len(v.found))
	}
	return r, nil
}

// latencyStats summarises latencies in milliseconds (nearest-rank
// percentiles).
func latencyStats(d []time.Duration) map[string]any {
	out := map[string]any{"count": len(d)}
	if len(d) == 0 {
		return out
	}
	s := slices.Clone(d)
	slices.Sort(s)
	pct := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	out["p50"], out["p90"], out["p99"], out["max"] = pct(0.50), pct(0.90), pct(0.99), ms(s[len(s)-1])
	return out
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func (v *verifier) close() { v.db.Close() }
