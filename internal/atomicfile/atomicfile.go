// Package atomicfile writes files so that readers see either the old content
// or the complete new content, never a partial file: write to a temporary
// file in the same directory, fsync it, rename it over the target, fsync the
// directory.
//
// A process killed mid-write leaves its temporary file behind. Every
// temporary name this package makes carries the writer's process id
// (".<name>.tmp-<pid>-<random>", "<prefix><pid>-<random>"), so that Sweep
// can remove exactly the ones whose writer is gone.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// TempTag marks the temporary files of Create: ".<name>" + TempTag + "<pid>-<random>".
const TempTag = ".tmp-"

// pattern is an os.CreateTemp or os.MkdirTemp pattern for a temporary name
// starting with prefix and carrying this process's id.
func pattern(prefix string) string {
	return prefix + strconv.Itoa(os.Getpid()) + "-*"
}

// File is a pending atomic write. Write to it, then Commit or Abort.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts an atomic write of path with the given permissions.
func Create(path string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, pattern("."+base+TempTag))
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
	}
	return &File{File: f, path: path}, nil
}

// Commit makes the write durable and visible under the final name,
// replacing what was there.
func (f *File) Commit() error {
	return f.commit(func(tmp, path string) error {
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		return SyncDir(filepath.Dir(path))
	})
}

// CommitNoReplace makes the write durable and visible under the final
// name only if no file is there yet (see RenameNoReplace); otherwise the
// write is discarded and the error wraps ErrExists.
func (f *File) CommitNoReplace() error {
	return f.commit(RenameNoReplace)
}

func (f *File) commit(rename func(tmp, path string) error) error {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	f.done = true
	tmp := f.File.Name()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", f.path, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", f.path, err)
	}
	if err := rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Abort discards the write. It is safe to call after Commit (it does nothing).
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, (*File).Commit)
}

// write writes data to a temporary file for path and commits it with
// commit.
func write(path string, data []byte, perm os.FileMode, commit func(*File) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return commit(f)
}

// SyncFile makes the file at path durable (fsync). On Windows the file is
// opened for writing: FlushFileBuffers needs a handle with write access,
// and fails with access denied on one opened for reading.
func SyncFile(path string) error {
	flag := os.O_RDONLY
	if runtime.GOOS == "windows" {
		flag = os.O_WRONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs a directory so that a rename or create in it is durable.
// It is a no-op on Windows, where directories cannot be opened for sync.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// WriteNew creates path, which must not exist, with data, durably. It is for
// files that must never be replaced, such as keys; on any error nothing is
// left at path.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	if err := writeExclusive(path, data, perm); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// MkdirTemp creates a new directory in dir named prefix + "<pid>-<random>"
// and returns its path; Sweep(dir, prefix, …) finds it again.
func MkdirTemp(dir, prefix string) (string, error) {
	return os.MkdirTemp(dir, pattern(prefix))
}

// Sweep removes the temporary files and directories in dir whose name has
// tag followed by "<pid>-" (TempTag for those of Create, or the prefix
// given to MkdirTemp), and returns their paths. With all false only those
// whose process no longer runs are removed; all is for a caller that holds
// a lock excluding every other writer of dir. A missing dir is not an error.
func Sweep(dir, tag string, all bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		pid, ok := tempPID(e.Name(), tag)
		if !ok || (!all && (pid == os.Getpid() || Running(pid))) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// tempPID returns the pid in a temporary name "…<tag><pid>-…". A name of
// an earlier version, "…<tag><random digits>", gives those digits, which
// name no running process (or, rarely, one that keeps it until later).
func tempPID(name, tag string) (int, bool) {
	i := strings.LastIndex(name, tag)
	if i < 0 || (tag == TempTag && !strings.HasPrefix(name, ".")) || (tag != TempTag && i != 0) {
		return 0, false
	}
	digits, _, _ := strings.Cut(name[i+len(tag):], "-")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}
