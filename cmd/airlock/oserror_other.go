//go:build !windows

package main

import (
	"errors"
	"syscall"
)

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func isReadOnlyFS(err error) bool { return errors.Is(err, syscall.EROFS) }
func isNotDir(err error) bool     { return errors.Is(err, syscall.ENOTDIR) }
func isDir(err error) bool        { return errors.Is(err, syscall.EISDIR) }
func isTooManyFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
