//go:build unix

package atomicfile

import (
	"errors"
	"math"
	"syscall"
)

// Running reports whether a process with this id exists (it may be another
// program that reuses the id of a dead writer: then its files stay).
func Running(pid int) bool {
	if pid <= 0 || pid > math.MaxInt32 {
		return false // not a pid (kill would take it for a group)
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
