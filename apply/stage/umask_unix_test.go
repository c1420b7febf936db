//go:build unix

package stage

import (
	"context"
	"syscall"
	"testing"
)

// TestExtractUmask: modes come from the manifest, set on the descriptor,
// whatever the process umask.
func TestExtractUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	fx := newFixture(t)
	es := happyEntries()
	m := manifestFor(es)
	if _, err := fx.extract(context.Background(), fx.seal(es, sealOpts{}), m); err != nil {
		t.Fatal(err)
	}
	assertStaged(t, fx.dir, m)
}
