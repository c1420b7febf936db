package atomicfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "new" {
		t.Fatalf("content %q, want new", b)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	assertOnly(t, dir, "x")
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	f.Abort()
	f.Abort()
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatalf("content %q, want old", b)
	}
	assertOnly(t, dir, "x")
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(names) {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}

func TestWriteNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := WriteNew(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(p, []byte("second"), 0o600); !os.IsExist(err) {
		t.Fatalf("second WriteNew: %v, want an exists error", err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "first" || st.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %v", b, st.Mode().Perm())
	}
}

// TestSweep: temporary names carry their writer's pid; Sweep removes those
// of dead writers (all of them when told the caller excludes every other
// writer) and nothing else.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	dead := deadPID(t)
	live := os.Getpid()
	names := map[string]bool{ // name → removed by Sweep(dir, TempTag, false)
		".journal.json" + TempTag + strconv.Itoa(dead) + "-123": true,
		".journal.json" + TempTag + strconv.Itoa(live) + "-456": false,
		"journal.json": false,
		"journal.json" + TempTag + strconv.Itoa(dead) + "-1": false, // not hidden: not ours
		".x" + TempTag + "abc-1":                             false,
		".old" + TempTag + "4000000001":                      true, // an earlier version's name: random digits
	}
	for n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Sweep(dir, TempTag, false)
	if err != nil {
		t.Fatal(err)
	}
	for n, gone := range names {
		_, err := os.Stat(filepath.Join(dir, n))
		if gone != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v", n, os.IsNotExist(err), gone)
		}
	}
	if len(removed) != 2 {
		t.Errorf("removed %v", removed)
	}
	if _, err := Sweep(dir, TempTag, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".journal.json"+TempTag+strconv.Itoa(live)+"-456")); !os.IsNotExist(err) {
		t.Error("all: a live writer's temp file stayed")
	}

	d, err := MkdirTemp(dir, ".out.build-")
	if err != nil {
		t.Fatal(err)
	}
	if removed, _ := Sweep(dir, ".out.build-", false); len(removed) != 0 {
		t.Fatalf("removed a live process's directory: %v", removed)
	}
	if err := os.Rename(d, filepath.Join(dir, ".out.build-"+strconv.Itoa(dead)+"-9")); err != nil {
		t.Fatal(err)
	}
	if removed, _ := Sweep(dir, ".out.build-", false); len(removed) != 1 {
		t.Fatalf("a dead process's directory stayed: %v", removed)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}
