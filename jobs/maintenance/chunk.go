package maintenance

import (
	"context"
	"fmt"
	"time"
)

// Chunk defaults.
const (
	DefaultChunkRows   = 5000                   // rows per chunk transaction
	DefaultChunkBudget = 200 * time.Millisecond // target duration of one chunk
	// MinChunkRows is the smallest chunk the budget shrinks to, so that a
	// slow disk still makes progress.
	MinChunkRows = 100
)

// Chunking bounds the chunk transactions of a job. The zero value means the
// defaults.
type Chunking struct {
	// Rows is the most rows a chunk changes; 0 means DefaultChunkRows.
	Rows int
	// Budget is how long a chunk should take. When a chunk takes longer
	// the next one is made proportionally smaller (down to MinChunkRows);
	// while chunks take less than half of it they grow back, up to Rows.
	// 0 means DefaultChunkBudget.
	Budget time.Duration
}

func (c Chunking) rows() int {
	if c.Rows <= 0 {
		return DefaultChunkRows
	}
	return c.Rows
}

func (c Chunking) budget() time.Duration {
	if c.Budget <= 0 {
		return DefaultChunkBudget
	}
	return c.Budget
}

// next returns the size of the chunk after one of limit rows that took d.
func (c Chunking) next(limit int, d time.Duration) int {
	budget, ceiling := c.budget(), c.rows()
	floor := min(MinChunkRows, ceiling)
	switch {
	case d > budget:
		return max(floor, int(int64(limit)*int64(budget)/int64(d)))
	case d < budget/2 && limit < ceiling:
		return min(ceiling, limit*2)
	}
	return limit
}

// pass is what a loop of chunks did.
type pass struct {
	chunks  int
	longest time.Duration // the longest chunk, writer wait included
}

func (p pass) String() string {
	return fmt.Sprintf("chunks=%d longest_chunk=%s", p.chunks, p.longest.Round(time.Millisecond))
}

// loop calls step with a chunk size until it reports no more rows, fails,
// or ctx is done; a dry run takes one step. It returns ctx's error when it
// stops early for that reason.
func (c Chunking) loop(ctx context.Context, dryRun bool, step func(ctx context.Context, limit int) (more bool, err error)) (pass, error) {
	var p pass
	limit := c.rows()
	for {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		t0 := time.Now()
		more, err := step(ctx, limit)
		d := time.Since(t0)
		p.chunks++
		p.longest = max(p.longest, d)
		if err != nil {
			return p, err
		}
		if !more || dryRun {
			return p, nil
		}
		limit = c.next(limit, d)
	}
}

// cutoff returns now minus days.
func cutoff(now func() time.Time, days int) time.Time {
	if now == nil {
		now = time.Now
	}
	return now().UTC().Add(-time.Duration(days) * 24 * time.Hour)
}
