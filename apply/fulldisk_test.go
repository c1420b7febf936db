//go:build linux

package apply

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// smallFS runs cmd with dir replaced by a tmpfs of size bytes holding a
// copy of dir, with all but free bytes of it filled, in a private mount
// namespace (unshare(1); as root, or in a user namespace otherwise). The
// tmpfs goes away with the namespace: afterwards dir holds a copy of what
// it held when cmd ended. It returns cmd's exit code and output. Without
// unshare or the right to mount, the test is skipped — unless
// AIRLOCK_REQUIRE_FULLDISK=1 (CI), when it fails.
func smallFS(t *testing.T, dir string, size, free int64, cmd *exec.Cmd) (int, string) {
	t.Helper()
	ns := []string{"-m", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = append([]string{"-r"}, ns...)
	}
	if out, err := exec.Command("unshare", append(ns, "sh", "-c", `mount -t tmpfs -o size=1m tmpfs "$0"`, t.TempDir())...).CombinedOutput(); err != nil {
		if os.Getenv("AIRLOCK_REQUIRE_FULLDISK") == "1" {
			t.Fatalf("cannot mount a small file system (unshare -m): %v\n%s", err, out)
		}
		t.Skipf("cannot mount a small file system (unshare -m): %v", err)
	}
	keep, out := t.TempDir(), t.TempDir()
	script := fmt.Sprintf(`set -e
mkdir -p "$DIR"
cp -a "$DIR/." %[1]q/
mount -t tmpfs -o size=%[3]d tmpfs "$DIR"
cp -a %[1]q/. "$DIR/"
dd if=/dev/zero of="$DIR/.fill" bs=4096 2>/dev/null || true
truncate -s -%[4]d "$DIR/.fill"
set +e
"$@"
code=$?
cp -a "$DIR/." %[2]q/
exit $code`, keep, out, size, free)
	wrapped := exec.Command("unshare", append(append(ns, "sh", "-c", script, "sh", cmd.Path), cmd.Args[1:]...)...)
	wrapped.Env = append(cmd.Env, "DIR="+dir)
	output, err := wrapped.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(out)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ".fill"))
	return code, string(output)
}

// TestRefusalOnNearlyFullState: a refused bundle on a state directory with
// room for the start-up probe but not for a receipt. The receipt must not
// be lost silently: either the apply refuses to start (nothing was done,
// the operator is told why), or the receipt is written.
func TestRefusalOnNearlyFullState(t *testing.T) {
	for _, free := range []int64{64 << 10, ReserveSize + 600<<10} {
		t.Run(fmt.Sprintf("%dKiB free", free>>10), func(t *testing.T) {
			z := newZone(t)
			b := z.build("1.0.0", "true", 1)
			bundletest.FlipByte(t, filepath.Join(b, "payload.age"), 100) // refused: parts
			note := strings.Repeat("a long change window note ", 4000)   // a ~100 KiB receipt
			code, out := smallFS(t, z.trust.StateDir, 4<<20, free, z.child(b, "AIRLOCK_CHILD_NOTE="+note))
			receipts, _ := filepath.Glob(filepath.Join(z.trust.StateDir, "receipts", "receipt-*.dsse.json"))
			switch {
			// The zone's genesis record is receipt 1.
			case code == 10 && len(receipts) == 1 && strings.Contains(out, "not usable"):
				if free > ReserveSize+(256<<10) {
					t.Fatalf("refused to start with room for the receipt:\n%s", out)
				}
			case code == 3 && len(receipts) == 2:
				if p := z.chain()[0]; p.Outcome.Result != receipt.Refused {
					t.Fatalf("outcome %s", p.Outcome.Result)
				}
			default:
				t.Fatalf("exit %d with %d receipts: a refusal without its receipt\n%s", code, len(receipts), out)
			}
		})
	}
}

// TestStateFillsMidApply: a step fills the state directory's file system.
// The next journal write fails; the apply must roll back like after a
// failed step and still write its receipt (the reserve is freed for it),
// not leave the host on the new release with later steps not run.
func TestStateFillsMidApply(t *testing.T) {
	z := newZone(t)
	// The marker lives in the state directory, so the steps can fill it.
	z.marker = filepath.Join(z.trust.StateDir, "marker")
	trust, _ := os.ReadFile(z.trust.File)
	trust = []byte(strings.Replace(string(trust), filepath.Join(z.dir, "marker"), z.marker, 1))
	os.WriteFile(z.trust.File, trust, 0o644)
	var err error
	if z.trust, err = zone.Load(z.trust.File); err != nil {
		t.Fatal(err)
	}
	z.commit()
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	fill := `head -c 64000000 /dev/zero > "#{Marker}.fill" || true`
	code, out := smallFS(t, z.trust.StateDir, 8<<20, ReserveSize+(2<<20), z.child(z.build("2.0.0", fill, 2)))
	if code != 4 {
		t.Fatalf("exit %d, want 4 (a step failed: rolled back)\n%s", code, out)
	}
	if z.current() != "releases/1.0.0" {
		t.Fatalf("current %s after the state directory filled up", z.current())
	}
	chain := z.chain()
	if len(chain) != 2 || chain[1].Outcome.Reason != receipt.ReasonStateUnwritable {
		t.Fatalf("%d receipts, last %+v", len(chain), chain[len(chain)-1].Outcome)
	}
	if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
		t.Fatal("journal left: the apply did not finish")
	}
}

// TestStateFillsWhileStaging: the payload, staged in the state directory,
// fills its file system. Nothing was changed; the receipt (written with
// the reserve freed) says refused for state-unwritable, and the apply
// ends with ErrStateWrite (exit 4, as when it fills during a step), not a
// staging refusal (exit 3) that blames the bundle.
func TestStateFillsWhileStaging(t *testing.T) {
	z := newZone(t)
	files := webFiles()
	big := make([]byte, 3<<20)
	rand.Read(big) // incompressible: the payload stays this large
	files["web/big.bin"] = string(big)
	dir, _ := z.f.Build(bundletest.Options{YAML: release("1.0.0", "true"), Files: files, Sequence: 1, Secret: secret})
	code, out := smallFS(t, z.trust.StateDir, 8<<20, ReserveSize+(1<<20), z.child(dir))
	if code != 4 {
		t.Fatalf("exit %d, want 4 (the state directory could not be written)\n%s", code, out)
	}
	chain := z.chain()
	last := chain[len(chain)-1].Outcome
	if last.Result != receipt.Refused || last.Reason != receipt.ReasonStateUnwritable {
		t.Fatalf("receipt says %+v, want refused for state-unwritable", last)
	}
	if z.current() != "" {
		t.Fatalf("current %s: something was deployed", z.current())
	}
	if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
		t.Fatal("journal left: the apply did not finish")
	}
	if left, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "staging")); len(left) != 0 {
		t.Fatalf("staging not emptied: %v", left)
	}
}
