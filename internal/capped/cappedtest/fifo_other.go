//go:build !unix

package cappedtest

import "testing"

// FIFO skips the test: this system has no named pipes in its file system.
func FIFO(t testing.TB, path string) string {
	t.Skip("no named pipes here")
	return path
}
