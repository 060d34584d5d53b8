package maintenance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSizer(t *testing.T) {
	c := Chunking{Rows: 5000, Budget: 200 * time.Millisecond}
	z := c.sizer()
	if z.limit != 1250 {
		t.Fatalf("first chunk = %d rows, want a quarter of 5000", z.limit)
	}
	// Cheap rows: grow by half per chunk up to the ceiling.
	var sizes []int
	for range 6 {
		z.observe(time.Duration(z.limit) * time.Microsecond) // 1 µs per row
		sizes = append(sizes, z.limit)
	}
	if want := []int{1875, 2812, 4218, 5000, 5000, 5000}; !slices.Equal(sizes, want) {
		t.Errorf("growth = %v, want %v", sizes, want)
	}
	// Rows get expensive (100 µs): the size converges to 100 ms / 100 µs.
	for range 10 {
		z.observe(time.Duration(z.limit) * 100 * time.Microsecond)
	}
	if z.limit < 950 || z.limit > 1050 {
		t.Errorf("at 100 µs per row the chunk is %d rows, want about 1000", z.limit)
	}
	// Very slow rows: never below the floor.
	for range 10 {
		z.observe(time.Duration(z.limit) * 10 * time.Millisecond)
	}
	if z.limit != MinChunkRows {
		t.Errorf("limit = %d, want the floor %d", z.limit, MinChunkRows)
	}
	var zero Chunking
	if zero.rows() != DefaultChunkRows || zero.budget() != DefaultChunkBudget {
		t.Errorf("zero Chunking = %d rows, %v", zero.rows(), zero.budget())
	}
	small := (Chunking{Rows: 10}).sizer()
	small.observe(time.Hour)
	if small.limit != 10 {
		t.Errorf("a ceiling below MinChunkRows is also the floor: %d", small.limit)
	}
}

func TestLoopOnChunk(t *testing.T) {
	type call struct{ limit, chunk int }
	var calls []call
	chunk := 0
	c := Chunking{Rows: 10, OnChunk: func(limit int, took time.Duration) {
		if took < 0 {
			t.Errorf("chunk %d took %v", chunk, took)
		}
		calls = append(calls, call{limit, chunk})
	}}
	step := func(fail int) func(context.Context, int) (bool, error) {
		return func(ctx context.Context, limit int) (bool, error) {
			chunk++
			if chunk == fail {
				return false, errors.New("chunk failed")
			}
			return chunk < 3, nil
		}
	}
	// Every committed chunk is reported, the last one included.
	p, err := c.loop(context.Background(), false, step(0))
	if err != nil || p.chunks != 3 {
		t.Fatalf("loop = %v, %v", p, err)
	}
	if want := []call{{10, 1}, {10, 2}, {10, 3}}; !slices.Equal(calls, want) {
		t.Errorf("OnChunk calls = %v, want %v", calls, want)
	}
	// A failed chunk is not.
	calls, chunk = nil, 0
	if _, err := c.loop(context.Background(), false, step(2)); err == nil {
		t.Fatal("loop ignored a failed chunk")
	}
	if len(calls) != 1 {
		t.Errorf("OnChunk calls = %v, want only the first chunk", calls)
	}
	// A dry run's count is one chunk.
	calls, chunk = nil, 0
	if _, err := c.loop(context.Background(), true, step(0)); err != nil || len(calls) != 1 {
		t.Errorf("dry run: OnChunk calls = %v, err %v", calls, err)
	}
}
