//go:build unix

package cappedtest

import (
	"syscall"
	"testing"
)

// FIFO makes a named pipe at path.
func FIFO(t testing.TB, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
