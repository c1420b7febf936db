package apply

import (
	"errors"

	"golang.org/x/sys/windows"
)

// isFull reports whether err says a volume is full or write-protected: it
// cannot take what is written to it.
func isFull(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL) || errors.Is(err, windows.ERROR_WRITE_PROTECT)
}
