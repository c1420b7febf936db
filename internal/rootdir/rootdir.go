// Package rootdir opens and creates files by name inside one open directory
// of an os.Root, one system call each, never following a symbolic link.
//
// os.Root resolves every path component by component (an open and a close
// per component, and on Unix several more calls per file to set up the
// descriptor); reading or writing a release of 100,000 small files spends
// most of its system time there. A Dir is opened once, through the os.Root
// (so it cannot lead outside it), and then opens or creates the files of
// that one directory directly: names are single path elements, and the
// final element is never followed if it is a link, as with os.Root. (On
// systems other than Unix a Dir is an os.Root of the directory: links
// inside it may be followed, never out of it.)
package rootdir

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrName is returned for a name that is not a single path element.
var ErrName = errors.New("not a single path element")

// checkName refuses names that could leave the directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || (os.PathSeparator != '/' && strings.ContainsRune(name, os.PathSeparator)) {
		return &os.PathError{Op: "open", Path: name, Err: ErrName}
	}
	return nil
}

// OpenIn opens the directory name (a slash-separated path inside root,
// "." for root itself) through root.
func OpenIn(root *os.Root, name string) (*Dir, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.IsDir() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: name, Err: fmt.Errorf("not a directory")}
	}
	return newDir(root, f, name), nil
}
