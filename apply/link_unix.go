//go:build !windows

package apply

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// On Unix, <to>/current is a relative symbolic link, releases/<name>,
// switched by renaming a new link over it: rename(2) replaces it
// atomically, so a reader sees the old release or the new one.

// releaseLink returns the target of <to>/current (fi is its Lstat), which
// must be a symbolic link.
func releaseLink(to string, fi fs.FileInfo) (string, error) {
	p := filepath.Join(to, currentLink)
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("%s is not a symbolic link made by airlock (it is a %s): refusing to replace it", p, kind(fi))
	}
	return os.Readlink(p)
}

// pointCurrent makes <to>/current the link to next (releases/<name>),
// with one atomic rename of a new link over the old one.
func pointCurrent(to, next string) error {
	tmp := filepath.Join(to, ".current.tmp-"+randomSuffix())
	if err := os.Symlink(next, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(to, currentLink)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
