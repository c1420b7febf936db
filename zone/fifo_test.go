package zone

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/capped/cappedtest"
)

// TestFIFOTrustAndValueFiles: a trust.yaml or a fromFile value that is a
// named pipe is refused as not a regular file instead of waiting for a
// writer.
func TestFIFOTrustAndValueFiles(t *testing.T) {
	fifo := cappedtest.FIFO(t, filepath.Join(t.TempDir(), "fifo"))
	var nr *capped.NotRegularError
	cappedtest.Returns(t, fifo, func() {
		if _, err := Load(fifo); !errors.As(err, &nr) {
			t.Errorf("Load: %v, want it refused as not a regular file", err)
		}
		if _, err := (Value{FromFile: fifo}).Read(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("value file: %v, want it refused as not a regular file", err)
		}
	})
}
