package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The --receipt-out folder is usually on removable media, mounted under a
// mount point. Pulled out mid-apply, the folder's path then names nothing,
// or (once something recreates it) a folder on the disk beneath the mount
// point: a copy written there would look like it succeeded and never
// leave the zone. So the folder is opened when the run starts, and each
// copy first checks that the path still names that folder (same device
// and inode, os.SameFile); otherwise nothing is written there and the copy
// stays pending, for `apply --resume` or the next apply.

// ErrMediaGone means the --receipt-out folder is no longer there, or is no
// longer the folder this run opened (the media was removed or replaced).
var ErrMediaGone = errors.New("the receipt folder is not the one this run opened (was the media removed or replaced?)")

// outFolder is a --receipt-out folder as this run found it.
type outFolder struct {
	path string
	info fs.FileInfo // nil: it could not be made or read
}

// openOut makes the folder path if needed and remembers which folder it is.
// A folder that cannot be made or read is not an error here: the copy
// reports why it fails, and the journal keeps the receipt for later.
func openOut(path string) outFolder {
	f := outFolder{path: path}
	if path == "" {
		return f
	}
	if err := os.MkdirAll(path, 0o755); err == nil {
		f.info, _ = os.Stat(path)
	}
	return f
}

// check reports ErrMediaGone when path no longer names the folder opened.
func (f outFolder) check() error {
	if f.info == nil {
		return nil
	}
	now, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is gone: %w", f.path, ErrMediaGone)
	case err != nil:
		return err
	case !os.SameFile(f.info, now):
		return fmt.Errorf("%s was replaced by another folder: %w", f.path, ErrMediaGone)
	}
	return nil
}

// copyTo copies the chain entry at path, and every entry the folder dir
// lacks, into dir (see receipt.Chain.CopyOut) — only if dir is still the
// folder it was: this run's --receipt-out must be the folder opened when
// the run started, and a folder an interrupted apply was given (and made
// when it started, made) must still exist: neither is made again, so that
// nothing lands beneath the mount point of media that was pulled out.
func (a *applier) copyTo(path, dir string, made bool) (string, error) {
	if dir == a.out.path {
		if err := a.out.check(); err != nil {
			return "", err
		}
	} else if made {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s is gone: %w", dir, ErrMediaGone)
		}
	}
	return a.chain.CopyOut(path, dir)
}
