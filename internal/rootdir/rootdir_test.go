package rootdir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func openRoot(t *testing.T) (string, *os.Root) {
	t.Helper()
	dir := t.TempDir()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return dir, r
}

func TestCreateOpenMkdir(t *testing.T) {
	dir, r := openRoot(t)
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := OpenIn(r, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.Create("f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create("f.txt"); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Create: %v, want an error for an existing file", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "a", "b", "f.txt"))
	if err != nil || string(data) != "hello" {
		t.Fatalf("read back %q, %v", data, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "a", "b", "f.txt")); runtime.GOOS != "windows" && st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode())
	}

	rf, err := d.Open("f.txt")
	if err != nil {
		t.Fatal(err)
	}
	mode, size, err := rf.Stat()
	if err != nil || !mode.IsRegular() || size != 5 {
		t.Errorf("Stat = %v, %d, %v; want a regular file of 5 bytes", mode, size, err)
	}
	got, err := io.ReadAll(rf)
	if err != nil || string(got) != "hello" {
		t.Errorf("ReadAll = %q, %v", got, err)
	}
	rf.Close()

	sub, err := d.Mkdir("c", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Name() != "a/b/c" {
		t.Errorf("Name = %q", sub.Name())
	}
	if err := sub.Chmod(0o750); err != nil {
		t.Fatal(err)
	}
	sf, err := sub.Create("g")
	if err != nil {
		t.Fatal(err)
	}
	sf.Close()
	sub.Close()
	if _, err := os.Stat(filepath.Join(dir, "a", "b", "c", "g")); err != nil {
		t.Error(err)
	}
	if _, err := d.Mkdir("c", 0o755); !errors.Is(err, os.ErrExist) {
		t.Errorf("second Mkdir: %v, want an error for an existing directory", err)
	}
}

func TestNames(t *testing.T) {
	_, r := openRoot(t)
	d, err := OpenIn(r, ".")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"", ".", "..", "a/b", "../x", "/etc/passwd", "x\x00y"} {
		if _, err := d.Create(name); !errors.Is(err, ErrName) {
			t.Errorf("Create(%q) = %v, want ErrName", name, err)
		}
		if _, err := d.Open(name); !errors.Is(err, ErrName) {
			t.Errorf("Open(%q) = %v, want ErrName", name, err)
		}
		if _, err := d.Mkdir(name, 0o755); !errors.Is(err, ErrName) {
			t.Errorf("Mkdir(%q) = %v, want ErrName", name, err)
		}
	}
}

func TestOpenInConfined(t *testing.T) {
	dir, r := openRoot(t)
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		t.Skip(err)
	}
	if d, err := OpenIn(r, "out"); err == nil {
		d.Close()
		t.Fatal("opened a directory outside the root through a link")
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := OpenIn(r, "file"); err == nil {
		d.Close()
		t.Fatal("opened a regular file as a directory")
	}
}
