//go:build !windows

package apply

import (
	"errors"
	"syscall"
)

// isFull reports whether err says a file system is full (or over quota) or
// read-only: it cannot take what is written to it.
func isFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EROFS)
}
