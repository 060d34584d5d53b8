package waittest

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	Until(t, Timeout, "three increments", func() bool { return n.Load() == 3 })
}

// fatalTB records Fatalf instead of stopping the goroutine.
type fatalTB struct {
	testing.TB
	failed string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed = format
}

func TestUntilTimesOut(t *testing.T) {
	tb := &fatalTB{TB: t}
	calls := 0
	Until(tb, 20*time.Millisecond, "never", func() bool {
		calls++
		return tb.failed != "" // stop once the deadline has failed the test
	})
	if tb.failed == "" || calls < 2 {
		t.Fatalf("Until returned without failing (calls %d)", calls)
	}
}
