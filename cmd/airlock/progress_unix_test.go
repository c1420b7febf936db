//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// TestProgressOnTerminal runs airlock as a user does, on a terminal (a
// pseudo-terminal): build, verify and plan draw their progress there, and
// not when standard error is a pipe, with --progress never or --quiet:
// the stage, the bar, bytes done of the total and the rate.
// --progress always draws it on a pipe too.
func TestProgressOnTerminal(t *testing.T) {
	c, _ := setupBundle(t)
	bin, err := exec.LookPath("airlock") // the test binary (see TestMain)
	if err != nil {
		t.Fatal(err)
	}
	build := []string{"build", "rel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "--force", "-o", "again.airlock"}
	verify := []string{"verify", "drop", "--trust", "zone/trust.yaml"}
	plan := []string{"plan", "drop", "--trust", "zone/trust.yaml"}
	bar := func(stage string) *regexp.Regexp {
		// the stage, the percentage, the bar, then bytes done of the
		// total (and, once measured, the rate): "verify    40% |██      |
		// (4.0/10 MiB, 20 MiB/s)", or "( 0 B/2.1 KiB)" as it starts
		return regexp.MustCompile(stage + ` +\d+% \|[^|]*\| \( *[0-9.]+( [KMGT]?i?B)?/[0-9.]+ [KMGT]?i?B[,)]`)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		terminal bool
		stage    string
		drawn    bool
	}{
		{"build on a terminal", build, true, "build", true},
		{"verify on a terminal", verify, true, "verify", true},
		{"plan on a terminal", plan, true, "verify", true},
		{"verify to a pipe", verify, false, "verify", false},
		{"verify --progress always to a pipe", append(verify, "--progress", "always"), false, "verify", true},
		{"verify --progress never on a terminal", append(verify, "--progress", "never"), true, "verify", false},
		{"verify --quiet on a terminal", append(verify, "--quiet"), true, "verify", false},
		{"build --quiet on a terminal", append(build, "--quiet"), true, "build", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = c.dir
			var out []byte
			if tc.terminal {
				out = runOnTerminal(t, cmd)
			} else {
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("%v: %v\n%s", tc.args, err, stderr.String())
				}
				out = stderr.Bytes()
			}
			if got := bar(tc.stage).Match(out); got != tc.drawn {
				t.Errorf("%v: progress of %s drawn %v, want %v; output:\n%q", tc.args, tc.stage, got, tc.drawn, out)
			}
		})
	}
}

// runOnTerminal runs cmd with standard output and error on a new
// pseudo-terminal and returns what it printed.
func runOnTerminal(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	out, err := io.ReadAll(tty)
	// Linux reports the end of a terminal whose last writer is gone as EIO.
	if err != nil && !errors.Is(err, syscall.EIO) && !errors.Is(err, os.ErrClosed) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return out
}
