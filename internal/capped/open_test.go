package capped_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/capped/cappedtest"
)

// TestOpenRefusesWhatIsNotARegularFile: a named pipe (which blocks an
// ordinary open until a writer comes), a directory and a device are
// refused, without blocking, by Open and ReadFile; a regular file is read.
func TestOpenRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := cappedtest.FIFO(t, filepath.Join(dir, "fifo"))
	paths := map[string]string{fifo: "named pipe", dir: "directory"}
	if runtime.GOOS != "windows" {
		paths[os.DevNull] = "device"
	}
	for p, kind := range paths {
		cappedtest.Returns(t, fifo, func() {
			_, err := capped.ReadFile(p, 1<<10)
			var nr *capped.NotRegularError
			if !errors.As(err, &nr) || !strings.Contains(err.Error(), kind) || !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("ReadFile(%s): %v, want it refused as a %s", p, err, kind)
			}
			if f, _, err := capped.Open(p); !errors.As(err, &nr) {
				t.Errorf("Open(%s): %v, want it refused", p, err)
				if f != nil {
					f.Close()
				}
			}
		})
	}
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := capped.ReadFile(regular, 10); err != nil || string(data) != "ok" {
		t.Errorf("ReadFile(regular) = %q, %v", data, err)
	}
}
