//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// migrateWaits is a migrate step that starts a child that ignores SIGINT,
// says it started, and waits.
const migrateWaits = `(trap '' INT; while :; do sleep 0.05; done) &
echo $! > "#{Marker}.child"
echo started > "#{Marker}.started"
sleep 1000
`

// signalRelease is a release with a migrate step; undo (when: failure) and
// the always step leave marks (undo may be made to wait).
func signalRelease(version, migrate, undo string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
channel: stable
targets: [zone:test]
expires: 24h
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent }
  Marker: { value: /nonexistent }
steps:
  - name: install
    deploy: web
    to: "#{Root}"
  - name: migrate
    run: %q
  - name: undo
    when: failure
    run: %q
  - name: audit trail
    when: always
    run: 'echo always >> "#{Marker}"'
`, version, migrate, undo)
}

type signalZone struct {
	t                  *testing.T
	dir, trust, marker string
	root, media        string
	f                  *bundletest.Fixture
}

func newSignalZone(t *testing.T) *signalZone {
	t.Helper()
	f := bundletest.New(t)
	f.Now = time.Now()
	z := &signalZone{t: t, dir: t.TempDir(), f: f}
	z.root, z.marker, z.media = filepath.Join(z.dir, "srv"), filepath.Join(z.dir, "marker"), filepath.Join(z.dir, "media")
	z.trust = f.WriteZone(z.dir, fmt.Sprintf("variables:\n  Root: %q\n  Marker: %q\n", z.root, z.marker))
	// The zone's genesis record: its policy, as the applies will find it.
	if out, err := exec.Command("airlock", "zone", "commit-policy", "--trust", z.trust, "--operator", "Test Operator").CombinedOutput(); err != nil {
		t.Fatalf("commit-policy: %v\n%s", err, out)
	}
	return z
}

func (z *signalZone) build(version, migrate, undo string, seq uint64) string {
	b, _ := z.f.Build(bundletest.Options{YAML: signalRelease(version, migrate, undo), Files: map[string]string{"web/index.html": version}, Sequence: seq})
	return b
}

// airlock starts the airlock program (the test binary, on PATH).
func (z *signalZone) airlock(args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command("airlock", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		z.t.Fatal(err)
	}
	return cmd, &out
}

func waitFor(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// lastReceipt verifies the zone's receipts in the state directory and on
// the media, which must be identical, and returns the newest.
func (z *signalZone) lastReceipt(n int) *receipt.Predicate {
	z.t.Helper()
	k, err := keys.LoadPrivate(filepath.Join(z.dir, "receipt.key"), nil)
	if err != nil {
		z.t.Fatal(err)
	}
	var last *receipt.Predicate
	for seq := 1; seq <= n; seq++ {
		name := receipt.FileName("test", "host1", uint64(seq))
		state, err := os.ReadFile(filepath.Join(z.dir, "state", "receipts", name))
		if err != nil {
			z.t.Fatal(err)
		}
		media, err := os.ReadFile(filepath.Join(z.media, name))
		if err != nil || !bytes.Equal(state, media) {
			z.t.Fatalf("media copy of %s: %v", name, err)
		}
		r, err := receipt.Verify(state, []*keys.PublicKey{k.Public()})
		if err != nil {
			z.t.Fatal(err)
		}
		last = r.Predicate()
	}
	if _, err := os.Stat(filepath.Join(z.dir, "state", "receipts", receipt.FileName("test", "host1", uint64(n+1)))); err == nil {
		z.t.Fatalf("more than %d receipts", n)
	}
	return last
}

func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(stat), ") Z ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("the step's child %d survived", pid)
}

// TestSignalsDuringAStep: SIGTERM, SIGHUP and SIGINT during a step all do
// the same: the step's process group is stopped (its child ignores
// SIGINT), the release switch is reverted, the when: failure and when:
// always steps run, a receipt (in the state directory and on the media)
// says rolled-back because of the interruption, and airlock exits
// 128+signal.
func TestSignalsDuringAStep(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			skipIfIgnored(t, sig)
			t.Parallel()
			z := newSignalZone(t)
			v1, v2 := z.build("1.0", "true", "true", 1), z.build("2.0", migrateWaits, `echo undo >> "#{Marker}"`, 2)
			if out, err := exec.Command("airlock", "apply", v1, "--trust", z.trust, "--receipt-out", z.media).CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			cmd, out := z.airlock("apply", v2, "--trust", z.trust, "--receipt-out", z.media)
			waitFor(t, z.marker+".started")
			cmd.Process.Signal(sig)
			code := exitCodeOf(t, cmd.Wait())
			if code != 128+int(sig) {
				t.Fatalf("exit %d, want %d\n%s", code, 128+int(sig), out)
			}
			assertGone(t, z.marker+".child")
			if cur, _ := os.Readlink(filepath.Join(z.root, "current")); cur != "releases/1.0" {
				t.Fatalf("current %q after the interruption", cur)
			}
			if marks, _ := os.ReadFile(z.marker); string(marks) != "always\nundo\nalways\n" { // 1.0's always, then 2.0's back-out and always
				t.Fatalf("back-out and always steps: %q", marks)
			}
			p := z.lastReceipt(3)
			if p.Outcome.Result != receipt.RolledBack || p.Outcome.Reason != receipt.ReasonInterrupted ||
				!strings.Contains(p.Outcome.Message, "interrupted by SIG") || p.Release == nil || p.Release.Current != "releases/1.0" {
				t.Fatalf("receipt %+v release %+v", p.Outcome, p.Release)
			}
			if _, err := os.Stat(filepath.Join(z.dir, "state", "journal.json")); !os.IsNotExist(err) {
				t.Fatal("journal left: the apply did not finish")
			}
		})
	}
}

// TestSecondSignalAbortsBackout: a second signal stops the back-out step
// too; the switch is still reverted, the receipt says the back-out did not
// complete, and airlock exits 128+signal.
func TestSecondSignalAbortsBackout(t *testing.T) {
	t.Parallel()
	z := newSignalZone(t)
	v1, v2 := z.build("1.0", "true", "true", 1), z.build("2.0", migrateWaits, `echo undo > "#{Marker}.undo"; sleep 1000`, 2)
	if out, err := exec.Command("airlock", "apply", v1, "--trust", z.trust, "--receipt-out", z.media).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmd, out := z.airlock("apply", v2, "--trust", z.trust, "--receipt-out", z.media)
	waitFor(t, z.marker+".started")
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, z.marker+".undo")
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCodeOf(t, cmd.Wait()); code != 143 {
		t.Fatalf("exit %d, want 143\n%s", code, out)
	}
	if cur, _ := os.Readlink(filepath.Join(z.root, "current")); cur != "releases/1.0" {
		t.Fatalf("current %q", cur)
	}
	p := z.lastReceipt(3)
	if p.Outcome.Result != receipt.Failed || p.Outcome.Reason != receipt.ReasonInterrupted || !strings.Contains(p.Outcome.Message, `"undo"`) {
		t.Fatalf("receipt %+v", p.Outcome)
	}
}

// skipIfIgnored skips a test of sig when the tests started with it ignored
// (under nohup, SIGHUP): airlock, started by them, inherits that and
// keeps it ignored by design (see package interrupt).
func skipIfIgnored(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if signal.Ignored(sig) {
		t.Skipf("%v was ignored when the tests started (under nohup?), and airlock keeps it so", sig)
	}
}
