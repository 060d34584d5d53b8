package maintenance

import (
	"context"
	"fmt"
	"time"
)

// Chunk defaults.
const (
	DefaultChunkRows   = 5000                   // rows per chunk transaction
	DefaultChunkBudget = 100 * time.Millisecond // target duration of one chunk
	// MinChunkRows is the smallest chunk the budget shrinks to, so that a
	// slow disk still makes progress.
	MinChunkRows = 100
)

// Chunking bounds the chunk transactions of a job. The zero value means the
// defaults.
type Chunking struct {
	// Rows is the most rows a chunk changes; 0 means DefaultChunkRows.
	Rows int
	// Budget is how long one chunk may hold the writer, and so how long
	// ingest may wait for it; 0 means DefaultChunkBudget. The job measures
	// each chunk and sizes the next one to take about half of Budget (never
	// more than Rows, never fewer than MinChunkRows): the other half absorbs
	// the chunks that a WAL checkpoint in their commit makes slower.
	Budget time.Duration
	// OnChunk, when not nil, is called after each chunk that succeeded
	// (committed, or counted in a dry run), from the job's goroutine and
	// outside the chunk's transaction, with the chunk's size limit (rows,
	// or pages for Vacuum) and how long it took, writer wait included. The
	// job waits for it before the next chunk. Benchmarks time chunks with
	// it; a caller can also cancel the job's context from it. nil means
	// nothing is called.
	OnChunk func(limit int, took time.Duration)
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

// sizer chooses chunk sizes. It starts at a quarter of the ceiling, keeps a
// moving average of the time per row and sizes each chunk to fill
// targetShare of the budget, growing by at most half per chunk, so that
// the variance between chunks (a checkpoint, a cold page) stays within the
// budget.
type sizer struct {
	floor, ceiling int
	target         float64 // ns per chunk aimed at
	perRow         float64 // ns per row, moving average; 0 before the first chunk
	limit          int
	onChunk        func(limit int, took time.Duration) // Chunking.OnChunk
}

const (
	targetShare = 0.5 // of the budget, per chunk
	maxGrowth   = 1.5 // per chunk
)

func (c Chunking) sizer() *sizer {
	ceiling := c.rows()
	floor := min(MinChunkRows, ceiling)
	return &sizer{
		floor:   floor,
		ceiling: ceiling,
		target:  float64(c.budget()) * targetShare,
		limit:   max(floor, ceiling/4),
		onChunk: c.OnChunk,
	}
}

// observe records that a chunk of the current size succeeded and took d,
// reports it to Chunking.OnChunk, and sets the size of the next chunk.
func (z *sizer) observe(d time.Duration) {
	if z.onChunk != nil {
		z.onChunk(z.limit, d)
	}
	perRow := float64(d) / float64(z.limit)
	if z.perRow == 0 {
		z.perRow = perRow
	} else {
		z.perRow = (z.perRow + perRow) / 2
	}
	next := int(z.target / max(z.perRow, 1))
	next = min(next, int(float64(z.limit)*maxGrowth), z.ceiling)
	z.limit = max(next, z.floor)
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
	z := c.sizer()
	for {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		t0 := time.Now()
		more, err := step(ctx, z.limit)
		d := time.Since(t0)
		p.chunks++
		p.longest = max(p.longest, d)
		if err != nil {
			return p, err
		}
		z.observe(d)
		if !more || dryRun {
			return p, nil
		}
	}
}

// cutoff returns now minus days.
func cutoff(now func() time.Time, days int) time.Time {
	if now == nil {
		now = time.Now
	}
	return now().UTC().Add(-time.Duration(days) * 24 * time.Hour)
}
