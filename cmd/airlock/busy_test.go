//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestApplyBusyExits5: while another apply holds the zone lock, apply
// refuses at once with exit code 5 and says who holds it.
func TestApplyBusyExits5(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("AIRLOCK_PASSWORD", "pw")
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"key", "generate", "release"},
		{"zone", "init", "zone", "--zone", "z", "--release-key", "release.pub"},
	} {
		if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errb.String())
		}
	}
	state := filepath.Join(dir, "zone", "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(state, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	lock.WriteString(`{"pid":4242,"started":"2026-11-21T10:00:00Z","bundle":"other.airlock"}`)
	errb.Reset()
	code := run(context.Background(), []string{"apply", "some.airlock", "--trust", "zone/trust.yaml"}, strings.NewReader(""), &out, &errb)
	if code != exitBusy || !strings.Contains(errb.String(), "pid 4242") {
		t.Fatalf("exit %d, want %d\n%s", code, exitBusy, errb.String())
	}
}
