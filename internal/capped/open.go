package capped

import (
	"fmt"
	"io/fs"
	"os"
)

// NotRegularError is a path that names something other than a regular
// file: a named pipe, a device, a socket, a directory. Nothing was read
// from it.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s: is %s, not a regular file", e.Path, kindOf(e.Mode))
}

// kindOf names the type of a file mode, with its article.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a plain file"
}

// Open opens path for reading only if it is a regular file, and returns
// it with its FileInfo. It never blocks on what it opens: the file is
// opened without waiting (O_NONBLOCK, where the system has it: opening a
// named pipe waits for a writer otherwise) and checked with fstat on the
// descriptor it opened, so that nothing put in its place between a check
// and the open is read. Every path airlock reads that a user, a signer or
// a courier names is opened this way.
func Open(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	return f, st, nil
}
