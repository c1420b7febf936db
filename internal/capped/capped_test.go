package capped

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("12345"), 0o644)
	if b, err := ReadFile(p, 5); err != nil || string(b) != "12345" {
		t.Fatalf("at the cap: %q %v", b, err)
	}
	var tl *TooLargeError
	if _, err := ReadFile(p, 4); !errors.As(err, &tl) || tl.Max != 4 {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := ReadFile(dir, 100); err == nil {
		t.Fatal("a directory was read")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 100); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}
