package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is wrapped by RenameNoReplace and WriteNoReplace when the
// target already exists: nothing was replaced. It is fs.ErrExist, so
// errors.Is(err, fs.ErrExist) holds too.
var ErrExists = fs.ErrExist

// RenameNoReplace renames oldpath to newpath only if newpath does not
// exist, atomically where the system can (Linux renameat2 with
// RENAME_NOREPLACE, macOS renamex_np with RENAME_EXCL, Windows MoveFileEx
// without MOVEFILE_REPLACE_EXISTING), else by a hard link and the removal of
// oldpath. On a file system that has neither (some network shares), the
// content is copied into a newpath created exclusively (O_EXCL): never a
// replacement, but an interrupted copy can leave newpath short; the
// readers of every file airlock writes this way check their content
// (receipts are signed). A newpath that exists is an error wrapping
// ErrExists, and oldpath is left as it was.
func RenameNoReplace(oldpath, newpath string) error {
	err := renameNoReplace(oldpath, newpath)
	if errors.Is(err, errUnsupported) {
		err = linkRename(oldpath, newpath)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: refusing to replace it: %w", newpath, ErrExists)
		}
		return err
	}
	return SyncDir(filepath.Dir(newpath))
}

// errUnsupported means the system call that renames without replacing is
// not available for this file system.
var errUnsupported = errors.New("rename without replacing is not supported here")

// linkRename links newpath to oldpath's file, then removes oldpath; where
// links are not supported either, it copies oldpath into a new file.
func linkRename(oldpath, newpath string) error {
	err := os.Link(oldpath, newpath)
	if err == nil {
		return os.Remove(oldpath)
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(newpath); serr == nil {
		return fs.ErrExist
	}
	return copyExclusive(oldpath, newpath)
}

// copyExclusive copies oldpath into newpath, which it creates (O_EXCL),
// fsyncs it and removes oldpath.
func copyExclusive(oldpath, newpath string) error {
	data, err := os.ReadFile(oldpath)
	if err != nil {
		return err
	}
	st, err := os.Stat(oldpath)
	if err != nil {
		return err
	}
	if err := writeExclusive(newpath, data, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Remove(oldpath)
}

// writeExclusive creates path, which must not exist, with data, fsynced;
// on an error after creating it, it removes it.
func writeExclusive(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// WriteNoReplace writes data to path as WriteFile does — a complete file or
// none, fsynced — but never replaces a file already at path: that is an
// error wrapping ErrExists. For files that name one thing forever, such as
// receipts: two writers of the same name must not lose one another's.
func WriteNoReplace(path string, data []byte, perm os.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists: refusing to replace it: %w", path, ErrExists)
	}
	return write(path, data, perm, (*File).CommitNoReplace)
}
