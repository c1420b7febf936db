package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"airlock.dev/airlock/internal/blobsig"
)

// TestOSErrorsSayWhatToDoNext: an error of the operating system ends with
// what to do about it, chosen by its type wherever it is wrapped; other
// errors, and refusals, are left as they are.
func TestOSErrorsSayWhatToDoNext(t *testing.T) {
	path := func(op string, errno error) error {
		return fmt.Errorf("zone/state: %w", &fs.PathError{Op: op, Path: "zone/state/receipts", Err: errno})
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for no advice
	}{
		{"missing", path("open", syscall.ENOENT), "(check the path; a relative one starts from the current folder)"},
		{"denied", path("open", syscall.EACCES), "(run airlock as a user who may use zone/state/receipts, or change its owner or permissions)"},
		{"full", path("write", syscall.ENOSPC), "(the file system holding zone/state/receipts is full: free some space"},
		{"quota", path("write", syscall.EDQUOT), "is full: free some space"},
		{"read-only", path("mkdir", syscall.EROFS), "(the file system holding zone/state/receipts is mounted read-only"},
		{"in the way", path("mkdir", syscall.EEXIST), "(zone/state/receipts is in the way: move it aside, or give another name)"},
		{"not a folder", path("open", syscall.ENOTDIR), "(a part of zone/state/receipts is a file, not a folder: check the path)"},
		{"a folder", path("open", syscall.EISDIR), "(zone/state/receipts is a folder: give a file)"},
		{"rename", &os.LinkError{Op: "rename", Old: "a", New: "media/r.json", Err: syscall.ENOSPC}, "the file system holding media/r.json is full"},
		{"not an OS error", errors.New("trust.yaml: unknown field \"hots\""), ""},
		{"a refusal is not advised", fmt.Errorf("%w: %w", blobsig.ErrInvalid, path("open", syscall.ENOENT)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := classify(tc.err).Message
			rest, ok := strings.CutPrefix(msg, tc.err.Error())
			if !ok {
				t.Fatalf("message %q does not start with the error", msg)
			}
			if tc.want == "" && rest != "" || tc.want != "" && !strings.Contains(rest, tc.want) {
				t.Errorf("after the error: %q, want %q", rest, tc.want)
			}
		})
	}

	// As a user sees it, on standard error and in --json.
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"status", "--trust", "nothere/trust.yaml"}, {"status", "--trust", "nothere/trust.yaml", "--json"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != exitError {
			t.Fatalf("airlock %v: exit %d, want %d", args, code, exitError)
		}
		if got := stdout.String() + stderr.String(); !strings.Contains(got, "nothere/trust.yaml: no such file or directory (check the path") {
			t.Errorf("airlock %v:\n%s", args, got)
		}
	}

	// A real permission error (root may read anything).
	if os.Geteuid() != 0 {
		dir := filepath.Join(t.TempDir(), "locked")
		if err := os.Mkdir(dir, 0o000); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		run(context.Background(), []string{"status", "--trust", filepath.Join(dir, "trust.yaml")}, strings.NewReader(""), &stdout, &stderr)
		if !strings.Contains(stderr.String(), "permission denied (run airlock as a user who may use") {
			t.Errorf("status in a folder without permissions:\n%s", stderr.String())
		}
	}
}
