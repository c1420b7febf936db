package keys

import (
	"errors"
	"path/filepath"
	"testing"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/capped/cappedtest"
)

// TestFIFOKeyFiles: a public or private key file that is a named pipe is
// refused as not a regular file instead of waiting for a writer.
func TestFIFOKeyFiles(t *testing.T) {
	fifo := cappedtest.FIFO(t, filepath.Join(t.TempDir(), "key.pem"))
	var nr *capped.NotRegularError
	cappedtest.Returns(t, fifo, func() {
		if _, err := LoadPublic(fifo); !errors.As(err, &nr) {
			t.Errorf("LoadPublic: %v, want it refused as not a regular file", err)
		}
		if _, err := LoadPrivate(fifo, nil); !errors.As(err, &nr) {
			t.Errorf("LoadPrivate: %v, want it refused as not a regular file", err)
		}
	})
}
