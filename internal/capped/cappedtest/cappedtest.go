// Package cappedtest helps tests show that a path airlock reads may be a
// named pipe without airlock waiting on it.
package cappedtest

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// guard is how long Returns waits before it decides that f is blocked:
// far beyond what any read of a small file takes, it is not a measure of
// speed but the line between "returned" and "hung".
const guard = 2 * time.Minute

// Returns runs f and fails the test if f has not returned after the guard
// time, which means it is blocked on the named pipe fifo; fifo is then
// opened for writing, as often as f waits on it, so that f can end.
func Returns(t testing.TB, fifo string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(guard):
		// Be the writer f waits for, as often as it waits, until it ends.
		for {
			select {
			case <-done:
				t.Fatalf("blocked on the named pipe %s", fifo)
			case <-time.After(10 * time.Millisecond):
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			}
		}
	}
}
