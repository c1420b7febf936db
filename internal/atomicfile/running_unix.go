//go:build unix

package atomicfile

import (
	"errors"
	"syscall"
)

// Running reports whether a process with this id exists (it may be another
// program that reuses the id of a dead writer: then its files stay).
func Running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
