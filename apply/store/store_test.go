package store

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/chunks"
)

// staged writes files into a staging folder of a fresh state directory
// and returns the state directory.
func staged(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, "staging", "b", name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func add(t *testing.T, s *Store, name string, data []byte) [32]byte {
	t.Helper()
	sum := sha256.Sum256(data)
	if err := s.Add("staging/b/"+name, sum); err != nil {
		t.Fatal(err)
	}
	if chunks.Large(int64(len(data))) {
		if err := s.Index([][32]byte{sum}); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}

func TestAddRecordInventory(t *testing.T) {
	big := random(1<<20, 1)
	dir := staged(t, map[string][]byte{"a": []byte("small"), "big": big, "dup": []byte("small")})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, d := add(t, s, "a", []byte("small")), add(t, s, "big", big), add(t, s, "dup", []byte("small"))
	if a != d {
		t.Fatal("same content, two digests")
	}
	// A hard link where the file system allows.
	st1, _ := os.Stat(filepath.Join(dir, "staging/b/big"))
	st2, _ := os.Stat(filepath.Join(dir, ObjectPath(b)))
	if !os.SameFile(st1, st2) {
		t.Log("the object is a copy, not a link")
	}
	inv, _ := s.Inventory("shop")
	if len(inv) != 0 {
		t.Fatalf("an inventory of %d objects before any record", len(inv))
	}
	if err := s.Record("shop", 2, "019a-b1", [][32]byte{a, b}); err != nil {
		t.Fatal(err)
	}
	inv, err = s.Inventory("shop")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := s.Chunks(b)
	if len(cs) < 4 {
		t.Fatalf("%d chunks of a 1 MiB object", len(cs))
	}
	if want := 2 + len(cs); len(inv) != want {
		t.Errorf("inventory of %d objects, want %d", len(inv), want)
	}
	for i := 1; i < len(inv); i++ {
		if bytes.Compare(inv[i-1].SHA256[:], inv[i].SHA256[:]) >= 0 {
			t.Fatal("inventory not sorted")
		}
	}
	if err := s.Check(b); err != nil {
		t.Error(err)
	}
}

func TestPrune(t *testing.T) {
	files := map[string][]byte{}
	for i := range 4 {
		files[string(rune('a'+i))] = []byte(strings.Repeat("x", i+1))
	}
	dir := staged(t, files)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sums [][32]byte
	for i := range 4 {
		name := string(rune('a' + i))
		sums = append(sums, add(t, s, name, files[name]))
		if err := s.Record("shop", uint64(i+1), "b"+name, [][32]byte{sums[i]}); err != nil {
			t.Fatal(err)
		}
	}
	s.Record("other", 9, "bo", [][32]byte{sums[0]}) // another application keeps a's content
	if err := s.Prune("shop", 2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, true} {
		if s.Has(sums[i]) != want {
			t.Errorf("object %d held: %v, want %v", i, !want, want)
		}
	}
	if err := s.Prune("other", 0); err != nil { // keep 0 is keep 1
		t.Fatal(err)
	}
	if !s.Has(sums[0]) {
		t.Error("keep 0 removed the only record")
	}
}

func TestLeftoversSwept(t *testing.T) {
	dir := staged(t, map[string][]byte{"a": []byte("a")})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum := add(t, s, "a", []byte("a")) // added, never recorded: a kill before the record
	os.WriteFile(filepath.Join(dir, tmpDir, "123-dead"), []byte("half"), 0o600)
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Errorf("tmp/ holds %d files after Sweep", len(ents))
	}
	if err := s.Prune("shop", 3); err != nil {
		t.Fatal(err)
	}
	if s.Has(sum) {
		t.Error("an object no record names survived Prune")
	}
}

func TestTamperedObject(t *testing.T) {
	dir := staged(t, map[string][]byte{"a": []byte("pristine")})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sum := add(t, s, "a", []byte("pristine"))
	p := filepath.Join(dir, ObjectPath(sum))
	os.Chmod(p, 0o644)
	os.WriteFile(p, []byte("changed!"), 0o644)
	if err := s.Check(sum); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("Check = %v, want a changed object", err)
	}
}

func TestPlantedLinkRefused(t *testing.T) {
	for _, d := range []string{Dir, objectsDir, tmpDir, releasesDir} {
		t.Run(d, func(t *testing.T) {
			dir := t.TempDir()
			elsewhere := t.TempDir()
			os.MkdirAll(filepath.Join(dir, filepath.Dir(d)), 0o700)
			if err := os.Symlink(elsewhere, filepath.Join(dir, d)); err != nil {
				t.Skip(err)
			}
			s, err := Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("a store opened through a planted link")
			}
			if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
				t.Errorf("%d files written through the link", len(ents))
			}
		})
	}
}

func TestRecordBadName(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Record("shop", 1, "../x", nil); err == nil {
		t.Error("a record named by a path")
	}
	if err := s.Record("../../x", 1, "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Prune("../../x", 1); err != nil {
		t.Fatal(err)
	}
}

func TestParseIndex(t *testing.T) {
	h := strings.Repeat("a", 64)
	for in, ok := range map[string]bool{
		h + " 0 10\n" + h + " 10 5\n": true,
		h + " 0 10\n" + h + " 11 5\n": false, // a gap
		h + " 0 0\n":                  false,
		h + " 0\n":                    false,
		"zz 0 1\n":                    false,
		h + " 0 " + "999999999\n":     false,
	} {
		if _, err := parseIndex([]byte(in)); (err == nil) != ok {
			t.Errorf("%q: err = %v", in, err)
		}
	}
	_ = chunks.MaxSize
}
