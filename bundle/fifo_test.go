package bundle_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped/cappedtest"
)

// TestOpenFIFOContainer: a .airlock container that is a named pipe is
// refused as not a regular file instead of waiting for a writer.
func TestOpenFIFOContainer(t *testing.T) {
	fifo := cappedtest.FIFO(t, filepath.Join(t.TempDir(), "release.airlock"))
	cappedtest.Returns(t, fifo, func() {
		_, err := bundle.Open(fifo)
		var fe *bundle.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("Open: %v, want a FormatError saying it is a named pipe", err)
		}
	})
}
