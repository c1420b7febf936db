//go:build !unix

package rootdir

import (
	"errors"
	"io"
	"os"
	"path"

	"airlock.dev/airlock/internal/writeback"
)

// Dir is an open directory: here, an os.Root of its own.
type Dir struct {
	f    *os.File
	r    *os.Root
	name string
}

func newDir(root *os.Root, f *os.File, name string) *Dir {
	return &Dir{f: f, name: name, r: mustSub(root, name)}
}

func mustSub(root *os.Root, name string) *os.Root {
	r, err := root.OpenRoot(name)
	if err != nil {
		return nil
	}
	return r
}

// Name is the path the directory was opened with.
func (d *Dir) Name() string { return d.name }

// Close closes the directory.
func (d *Dir) Close() error {
	if d.r != nil {
		d.r.Close()
	}
	return d.f.Close()
}

// Stat describes the directory, from its descriptor.
func (d *Dir) Stat() (os.FileInfo, error) { return d.f.Stat() }

// Chmod sets the directory's mode, on its descriptor.
func (d *Dir) Chmod(mode os.FileMode) error { return d.f.Chmod(mode) }

func (d *Dir) root() (*os.Root, error) {
	if d.r == nil {
		return nil, &os.PathError{Op: "open", Path: d.name, Err: errors.New("directory not open")}
	}
	return d.r, nil
}

// Open opens the file name for reading.
func (d *Dir) Open(name string) (*File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	return &File{f: f, name: path.Join(d.name, name)}, nil
}

// Create creates the file name for writing with mode 0600; it must not
// exist.
func (d *Dir) Create(name string) (*File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &File{f: f, name: path.Join(d.name, name)}, nil
}

// Mkdir creates the directory name with perm and opens it.
func (d *Dir) Mkdir(name string, perm os.FileMode) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	if err := r.Mkdir(name, perm); err != nil {
		return nil, err
	}
	sub, err := OpenIn(r, name)
	if err != nil {
		return nil, err
	}
	sub.name = path.Join(d.name, name)
	return sub, nil
}

// File is an open regular file.
type File struct {
	f    *os.File
	name string
}

// Name is the file's path, relative to the os.Root.
func (f *File) Name() string { return f.name }

// Stat returns the file's type and size.
func (f *File) Stat() (os.FileMode, int64, error) {
	st, err := f.f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return st.Mode(), st.Size(), nil
}

// Read reads into p; it returns io.EOF at the end of the file.
func (f *File) Read(p []byte) (int, error) { return f.f.Read(p) }

// Write writes all of p.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// StartWriteback asks the kernel to start writing n bytes at off (n = 0:
// to the end) to the disk, without waiting (see internal/writeback).
func (f *File) StartWriteback(off, n int64) { writeback.Start(f.f.Fd(), off, n) }

// Chmod sets the file's mode.
func (f *File) Chmod(mode os.FileMode) error { return f.f.Chmod(mode) }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

var _ io.ReadWriteCloser = (*File)(nil)
