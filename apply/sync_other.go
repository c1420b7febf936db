//go:build !linux

package apply

import (
	"io/fs"
	"path/filepath"

	"airlock.dev/airlock/internal/atomicfile"
)

// syncTree makes a newly written release directory durable before the
// switch: every file and directory is fsynced.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return atomicfile.SyncDir(p)
		}
		return atomicfile.SyncFile(p)
	})
}
