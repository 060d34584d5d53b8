package maintenance

import (
	"testing"
	"time"
)

func TestChunkingNext(t *testing.T) {
	c := Chunking{Rows: 5000, Budget: 200 * time.Millisecond}
	for _, tc := range []struct {
		limit int
		took  time.Duration
		want  int
	}{
		{5000, 100 * time.Millisecond, 5000},   // within budget, at the ceiling
		{5000, 400 * time.Millisecond, 2500},   // twice the budget: half the rows
		{5000, 20 * time.Second, MinChunkRows}, // never below the floor
		{1000, 50 * time.Millisecond, 2000},    // well under budget: grow back
		{4000, 50 * time.Millisecond, 5000},    // up to the ceiling
		{1000, 150 * time.Millisecond, 1000},   // between half and the budget: keep
	} {
		if got := c.next(tc.limit, tc.took); got != tc.want {
			t.Errorf("next(%d, %v) = %d, want %d", tc.limit, tc.took, got, tc.want)
		}
	}
	var zero Chunking
	if zero.rows() != DefaultChunkRows || zero.budget() != DefaultChunkBudget {
		t.Errorf("zero Chunking = %d rows, %v", zero.rows(), zero.budget())
	}
	if small := (Chunking{Rows: 10}); small.next(10, time.Hour) != 10 {
		t.Errorf("a ceiling below MinChunkRows must stay the floor: %d", small.next(10, time.Hour))
	}
}
