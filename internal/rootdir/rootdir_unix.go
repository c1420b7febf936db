//go:build unix

package rootdir

import (
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"

	"airlock.dev/airlock/internal/writeback"
)

// Dir is an open directory.
type Dir struct {
	f    *os.File
	fd   int
	name string
}

func newDir(_ *os.Root, f *os.File, name string) *Dir {
	return &Dir{f: f, fd: int(f.Fd()), name: name}
}

// Name is the path the directory was opened with.
func (d *Dir) Name() string { return d.name }

// Close closes the directory.
func (d *Dir) Close() error { return d.f.Close() }

// Stat describes the directory, from its descriptor.
func (d *Dir) Stat() (os.FileInfo, error) { return d.f.Stat() }

// Chmod sets the directory's mode, on its descriptor.
func (d *Dir) Chmod(mode os.FileMode) error { return d.f.Chmod(mode) }

func (d *Dir) openat(name string, flags int, perm uint32) (int, error) {
	if err := checkName(name); err != nil {
		return -1, err
	}
	for {
		fd, err := unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != unix.EINTR {
			if err != nil {
				return -1, &os.PathError{Op: "openat", Path: path.Join(d.name, name), Err: err}
			}
			return fd, nil
		}
	}
}

// Open opens the file name for reading. It is opened without blocking, so
// that a FIFO put in a file's place cannot stall the caller: check the
// type with Stat before reading.
func (d *Dir) Open(name string) (*File, error) {
	fd, err := d.openat(name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	return &File{fd: fd, name: path.Join(d.name, name)}, nil
}

// Create creates the file name for writing with mode 0600; it must not
// exist (a link in its place is not followed: that is an error too).
func (d *Dir) Create(name string) (*File, error) {
	fd, err := d.openat(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &File{fd: fd, name: path.Join(d.name, name)}, nil
}

// Mkdir creates the directory name with perm (narrowed by the umask) and
// opens it.
func (d *Dir) Mkdir(name string, perm os.FileMode) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := ignoringEINTR(func() error { return unix.Mkdirat(d.fd, name, uint32(perm.Perm())) }); err != nil {
		return nil, &os.PathError{Op: "mkdirat", Path: path.Join(d.name, name), Err: err}
	}
	fd, err := d.openat(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	p := path.Join(d.name, name)
	return &Dir{f: os.NewFile(uintptr(fd), p), fd: fd, name: p}, nil
}

// File is an open regular file, by its descriptor.
type File struct {
	fd   int
	name string
}

// Name is the file's path, relative to the os.Root.
func (f *File) Name() string { return f.name }

// Stat returns the file's type and size.
func (f *File) Stat() (mode os.FileMode, size int64, err error) {
	var st unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return 0, 0, f.err("fstat", err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode = os.ModeDir
	case unix.S_IFLNK:
		mode = os.ModeSymlink
	case unix.S_IFIFO:
		mode = os.ModeNamedPipe
	case unix.S_IFSOCK:
		mode = os.ModeSocket
	case unix.S_IFCHR:
		mode = os.ModeDevice | os.ModeCharDevice
	default:
		mode = os.ModeDevice
	}
	return mode | os.FileMode(st.Mode&0o777), st.Size, nil
}

// Read reads into p; it returns io.EOF at the end of the file.
func (f *File) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, f.err("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write writes all of p.
func (f *File) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(f.fd, p[done:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, f.err("write", err)
		}
		done += n
	}
	return done, nil
}

// StartWriteback asks the kernel to start writing n bytes at off (n = 0:
// to the end) to the disk, without waiting (see internal/writeback).
func (f *File) StartWriteback(off, n int64) { writeback.Start(uintptr(f.fd), off, n) }

// Chmod sets the file's mode, on its descriptor.
func (f *File) Chmod(mode os.FileMode) error {
	return f.err("fchmod", ignoringEINTR(func() error { return unix.Fchmod(f.fd, uint32(mode.Perm())) }))
}

// Close closes the file.
func (f *File) Close() error {
	err := unix.Close(f.fd)
	f.fd = -1
	return f.err("close", err)
}

func (f *File) err(op string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: f.name, Err: err}
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != unix.EINTR {
			return err
		}
	}
}
