//go:build unix

package capped

import (
	"os"
	"syscall"
)

// openFlags open a file for reading without waiting for a writer (a
// named pipe) or a device; a regular file reads as it would without
// O_NONBLOCK.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
