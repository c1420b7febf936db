//go:build unix

package rootdir

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestNoFollow: a link in a file's place is never followed, for reading or
// for creating, even when it points inside the root.
func TestNoFollow(t *testing.T) {
	dir, r := openRoot(t)
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"out", "dangling", "in"} {
		dest := map[string]string{"out": target, "dangling": filepath.Join(dir, "nothing"), "in": "file"}[name]
		if err := os.Symlink(dest, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenIn(r, ".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"out", "dangling", "in"} {
		if f, err := d.Open(name); err == nil {
			f.Close()
			t.Errorf("Open(%q) followed a link", name)
		}
		if f, err := d.Create(name); err == nil {
			f.Close()
			t.Errorf("Create(%q) followed a link", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Error("Create wrote through a dangling link")
	}
	if data, _ := os.ReadFile(target); string(data) != "secret" {
		t.Error("Create wrote through a link")
	}
}

// TestOpenFIFO: a FIFO in a file's place does not block Open, and Stat
// says what it is.
func TestOpenFIFO(t *testing.T) {
	dir, r := openRoot(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Skip(err)
	}
	d, err := OpenIn(r, ".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Open("fifo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mode, _, err := f.Stat()
	if err != nil || mode&os.ModeNamedPipe == 0 {
		t.Errorf("Stat = %v, %v; want a named pipe", mode, err)
	}
}
