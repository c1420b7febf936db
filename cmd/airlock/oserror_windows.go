package main

import (
	"errors"

	"golang.org/x/sys/windows"
)

func isNoSpace(err error) bool {
	return errors.Is(err, windows.ERROR_DISK_FULL) || errors.Is(err, windows.ERROR_HANDLE_DISK_FULL)
}

func isReadOnlyFS(err error) bool   { return errors.Is(err, windows.ERROR_WRITE_PROTECT) }
func isNotDir(err error) bool       { return errors.Is(err, windows.ERROR_DIRECTORY) }
func isDir(err error) bool          { return false } // Windows reports opening a folder as access denied
func isTooManyFiles(err error) bool { return errors.Is(err, windows.ERROR_TOO_MANY_OPEN_FILES) }
