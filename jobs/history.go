package jobs

import (
	"context"
	"slices"
	"sync"
)

// MemoryHistory is a History kept in memory, bounded per job. It is the
// Scheduler's default when no History is given.
type MemoryHistory struct {
	keep int

	mu   sync.Mutex
	runs map[string][]Run // oldest first
}

// NewMemoryHistory returns a MemoryHistory that keeps the last keep runs of
// each job; keep <= 0 means DefaultHistoryPerJob.
func NewMemoryHistory(keep int) *MemoryHistory {
	if keep <= 0 {
		keep = DefaultHistoryPerJob
	}
	return &MemoryHistory{keep: keep, runs: map[string][]Run{}}
}

// RecordRun stores r, dropping the job's oldest run beyond the bound.
func (h *MemoryHistory) RecordRun(_ context.Context, r Run) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	runs := append(h.runs[r.Job], r)
	if len(runs) > h.keep {
		runs = slices.Delete(runs, 0, len(runs)-h.keep)
	}
	h.runs[r.Job] = runs
	return nil
}

// LastRuns returns up to n most recent runs of job, newest first.
func (h *MemoryHistory) LastRuns(_ context.Context, job string, n int) ([]Run, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	runs := h.runs[job]
	if n <= 0 {
		return nil, nil
	}
	if n > len(runs) {
		n = len(runs)
	}
	out := slices.Clone(runs[len(runs)-n:])
	slices.Reverse(out)
	return out, nil
}
