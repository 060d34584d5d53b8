package maintenance

import (
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
