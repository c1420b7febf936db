// Package capped reads files from hostile or careless sources with a size
// cap checked before reading and again while reading (a file may grow).
package capped

import (
	"fmt"
	"io"
	"os"
)

// TooLargeError is a file over the cap; nothing of it was parsed.
type TooLargeError struct {
	Path string
	Max  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: larger than %d bytes", e.Path, e.Max)
}

// ReadFile reads the regular file path if it holds at most max bytes; it
// opens it as Open does, so that a named pipe or a device is refused
// without blocking.
func ReadFile(path string, max int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, st, path, max)
}

// Read reads the open file f, whose Stat is st and whose name is path,
// if it holds at most max bytes: for a caller that checks more of the
// open file than ReadFile does before reading it.
func Read(f io.Reader, st os.FileInfo, path string, max int64) ([]byte, error) {
	if st.Size() > max {
		return nil, &TooLargeError{Path: path, Max: max}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, &TooLargeError{Path: path, Max: max}
	}
	return data, nil
}
