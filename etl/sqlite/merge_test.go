package sqlite

import (
	"context"
	"errors"
	"testing"
)

// MergeFile reports progress in observations up to the foreign file's
// total, merges its rows, adds nothing the second time, and refuses to
// merge a database into itself.
func TestMergeFile(t *testing.T) {
	ctx := context.Background()
	other := copyFixture(t)
	src := rawOpen(t, other)
	wantObs := queryInt(t, src, "SELECT count(*) FROM observations")
	wantObservers := queryInt(t, src, "SELECT count(*) FROM observers")
	db := openTest(t)
	for range 2 {
		var merged, total, calls int64
		err := db.MergeFile(ctx, other, func(m, tot int64) { merged, total = m, tot; calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if calls == 0 || merged != wantObs || total != wantObs {
			t.Fatalf("progress: %d calls, last %d of %d, want %d of %d", calls, merged, total, wantObs, wantObs)
		}
		rd := db.Reader()
		if n := queryInt(t, rd, "SELECT count(*) FROM observations"); n != wantObs {
			t.Fatalf("observations = %d, want %d", n, wantObs)
		}
		if n := queryInt(t, rd, "SELECT count(*) FROM observers"); n != wantObservers {
			t.Fatalf("observers = %d, want %d", n, wantObservers)
		}
	}
	if err := db.MergeFile(ctx, db.Path(), func(int64, int64) {}); !errors.Is(err, ErrForeignIsSelf) {
		t.Fatalf("self merge: %v, want ErrForeignIsSelf", err)
	}
}
