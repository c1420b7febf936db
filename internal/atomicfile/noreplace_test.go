package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestWriteNoReplace: a new name is written whole; an existing one is an
// ErrExists error that leaves the file as it was and no temporary file.
func TestWriteNoReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "receipt")
	if err := WriteNoReplace(p, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	err := WriteNoReplace(p, []byte("second"), 0o640)
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want ErrExists", err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "first" || st.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v", b, st.Mode().Perm())
	}
	assertOnly(t, dir, "receipt")
}

// TestWriteNoReplaceRace: writers racing for one name (the check before
// the rename does not decide it) — exactly one wins, the others get
// ErrExists, and the file holds the winner's bytes whole.
func TestWriteNoReplaceRace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "receipt")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = WriteNoReplace(p, fmt.Appendf(nil, "writer %d", i), 0o640) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both wrote", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, ErrExists):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	b, _ := os.ReadFile(p)
	if won < 0 || string(b) != fmt.Sprintf("writer %d", won) {
		t.Fatalf("winner %d, content %q", won, b)
	}
	assertOnly(t, dir, "receipt")
}

// TestRenameNoReplaceFallbacks: the link and the exclusive copy used where
// the system cannot rename without replacing refuse an existing target
// too, and move the file otherwise.
func TestRenameNoReplaceFallbacks(t *testing.T) {
	for name, move := range map[string]func(string, string) error{"link": linkRename, "copy": copyExclusive} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			os.WriteFile(src, []byte("new"), 0o640)
			os.WriteFile(dst, []byte("old"), 0o640)
			if err := move(src, dst); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("onto an existing file: %v", err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "old" {
				t.Fatalf("the existing file now holds %q", b)
			}
			os.Remove(dst)
			if err := move(src, dst); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "new" {
				t.Fatalf("moved file holds %q", b)
			}
			assertOnly(t, dir, "dst")
		})
	}
}
