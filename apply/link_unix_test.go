//go:build !windows

package apply

import (
	"os"
	"testing"
)

// makeDirLink makes link a link to the directory target, as someone
// planting one would: a symbolic link.
func makeDirLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// skipWithoutLinks: Unix always has symbolic links.
func skipWithoutLinks(*testing.T) {}
