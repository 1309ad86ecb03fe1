package redistest

import (
	"io"
	"testing"
	"time"
)

// CloseAtCleanup closes c when t ends, and fails t if that takes more than
// 5 s: a store's Close must not hang on a Redis that went away.
func CloseAtCleanup(t testing.TB, c io.Closer) {
	t.Helper()
	t.Cleanup(func() {
		start := time.Now()
		c.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %v", d)
		}
	})
}

// WaitFor waits, at most for limit, until done reports true, and fails t
// with what it says otherwise.
func WaitFor(t testing.TB, limit time.Duration, done func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
