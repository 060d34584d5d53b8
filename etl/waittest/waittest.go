// Package waittest is the tests' one way to wait for an event that has no
// channel to wait on: poll a condition until it holds, failing the test at
// a deadline. Tests never sleep for a fixed time to let something happen.
package waittest

import (
	"testing"
	"time"
)

// Timeout is the deadline most waits use: generous, because it is reached
// only when the test fails, and CI machines under -race are slow.
const Timeout = 15 * time.Second

// pollEvery is the polling period of Until.
const pollEvery = 5 * time.Millisecond

// Until polls cond every few milliseconds until it returns true, and fails
// the test with "timed out after <timeout> waiting for <what>" once timeout
// has passed. cond runs on the test's goroutine.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
