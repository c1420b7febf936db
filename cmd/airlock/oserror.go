package main

import (
	"errors"
	"io/fs"
	"os"
)

// nextStep says what to do about an error of the operating system — a
// path that does not exist, a permission denied, a full or read-only file
// system — decided by the error's type, never its text; "" for any other
// error. The error itself already says what failed and where ("open
// zone/trust.yaml: no such file or directory").
func nextStep(err error) string {
	path, ok := osErrorPath(err)
	if !ok {
		return ""
	}
	switch {
	case isNoSpace(err):
		return "the file system holding " + path + " is full: free some space, or give a folder on another file system, then run the command again"
	case isReadOnlyFS(err):
		return "the file system holding " + path + " is mounted read-only: give a folder on a writable one, or remount it"
	case errors.Is(err, fs.ErrNotExist):
		return "check the path; a relative one starts from the current folder"
	case errors.Is(err, fs.ErrPermission):
		return "run airlock as a user who may use " + path + ", or change its owner or permissions"
	case errors.Is(err, fs.ErrExist):
		return path + " is in the way: move it aside, or give another name"
	case isNotDir(err):
		return "a part of " + path + " is a file, not a folder: check the path"
	case isDir(err):
		return path + " is a folder: give a file"
	case isTooManyFiles(err):
		return "too many open files: raise the limit (ulimit -n) and run the command again"
	}
	return ""
}

// osErrorPath returns the path an operating-system error is about, if err
// is one.
func osErrorPath(err error) (string, bool) {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		return pe.Path, true
	case errors.As(err, &le):
		return le.New, true
	case errors.As(err, &se):
		return "it", true
	}
	return "", false
}
