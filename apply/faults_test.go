//go:build unix

package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// audit runs the auditor over the state directory's receipts: one chain,
// no fork, no duplicate.
func (z *testZone) audit() {
	z.t.Helper()
	k, err := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	if err != nil {
		z.t.Fatal(err)
	}
	rep, err := audit.Run(context.Background(), audit.Options{Dir: filepath.Join(z.trust.StateDir, "receipts"), Keys: []*keys.PublicKey{k.Public()}, Now: z.now})
	if err != nil {
		z.t.Fatal(err)
	}
	for _, f := range rep.Findings {
		// The test zone applies as this account without an operator's key:
		// who applied is the audit's own tests' subject, not faults'.
		if f.Kind == audit.KindUnattributed {
			continue
		}
		if f.Kind == "duplicate" || f.Severity == audit.SeverityError {
			z.t.Errorf("audit: %s %s: %s", f.Kind, f.File, f.Message)
		}
	}
}

// waitFile waits for a file a step writes.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// killWhen starts the child applier, waits for path, and kills the child
// with SIGKILL: a power cut while the step that writes path runs.
func (z *testZone) killWhen(bundle, path string, env ...string) {
	z.t.Helper()
	cmd := z.child(bundle, env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		z.t.Fatal(err)
	}
	waitFile(z.t, path)
	cmd.Process.Signal(syscall.SIGKILL)
	if err := cmd.Wait(); err == nil {
		z.t.Fatalf("the applier finished before it was killed:\n%s", out.String())
	}
}

// TestOrphanStoppedByRecovery: the applier dies while a step runs; the
// step's process group lives on, writing into whatever release current
// points at. Recovery stops it before it rolls back — it must not write
// into the restored release after the rollback receipt is signed — and the
// receipt says so.
func TestOrphanStoppedByRecovery(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	pidFile := z.marker + ".pid"
	orphan := `(trap '' INT; while :; do echo tick >> "#{Root}/current/orphan.log"; sleep 0.05; done) & echo $! > "#{Marker}.pid"; sleep 1000`
	z.killWhen(z.build("2.0.0", orphan, 2), pidFile)

	res, err := z.resume()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	assertDead(t, pidFile)
	log := filepath.Join(z.root, "releases", "1.0.0", "orphan.log")
	before, _ := os.Stat(log)
	time.Sleep(300 * time.Millisecond)
	after, _ := os.Stat(log)
	if before != nil && after.Size() != before.Size() {
		t.Fatalf("the orphan still writes into the restored release (%d → %d bytes)", before.Size(), after.Size())
	}
	if z.current() != "releases/1.0.0" || res.Outcome != receipt.RolledBack {
		t.Fatalf("current %s, outcome %s", z.current(), res.Outcome)
	}
	if msg := z.chain()[1].Outcome.Message; !strings.Contains(msg, "were stopped first") {
		t.Fatalf("the receipt does not say the survivors were stopped: %q", msg)
	}
}

// TestReceiptTempFileRemoved: a kill while the receipt was being written
// leaves a complete, signed receipt under a temporary name. Recovery must
// remove it (or complete it), never leave it beside a second receipt of the
// same sequence: an auditor reading the folder would see a fork.
func TestReceiptTempFileRemoved(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	if out, err := z.child(z.build("2.0.0", "true", 2), "AIRLOCK_CHILD_KILL_AT="+jChannelUpdated).CombinedOutput(); err == nil {
		t.Fatalf("not killed:\n%s", out)
	}
	j, err := (&state{dir: z.trust.StateDir}).loadJournal()
	if err != nil || j == nil {
		t.Fatalf("journal: %v", err)
	}
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	p := j.Receipt
	p.Outcome = receipt.Outcome{Result: receipt.Applied, Reason: receipt.ReasonOK, Message: "written before the kill"}
	data, err := receipt.Sign(&p, nil, k)
	if err != nil {
		t.Fatal(err)
	}
	name := receipt.FileName("test", "host1", p.Seq)
	for _, tmp := range []string{"." + name + ".tmp-123456789", "." + name + ".tmp-4242-987654"} {
		if err := os.WriteFile(filepath.Join(z.trust.StateDir, "receipts", tmp), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := z.resume(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "receipts"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("receipts/%s left behind", e.Name())
		}
	}
	if len(z.chain()) != 2 {
		t.Fatal("not one receipt per apply")
	}
	z.audit()
}

// TestResumeCopiesToMedia: an apply given --receipt-out is killed; the
// resume, not told where the media is, copies the recovered receipt there.
func TestResumeCopiesToMedia(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	if out, err := z.child(z.build("2.0.0", "true", 2), "AIRLOCK_CHILD_KILL_AT="+jSwitched, "AIRLOCK_CHILD_MEDIA="+z.media()).CombinedOutput(); err == nil {
		t.Fatalf("not killed:\n%s", out)
	}
	res, err := z.resume()
	if err != nil || res == nil {
		t.Fatalf("resume: %v %v", res, err)
	}
	if res.ReceiptCopy == "" {
		t.Error("the result names no copy")
	}
	z.checkMedia(3)
}

// TestStepOutputsGoneAfterKill: a step's sensitive output, written to its
// $AIRLOCK_OUTPUT file, does not outlive a killed apply: recovery removes
// the folder, and no file in the state directory holds the secret.
func TestStepOutputsGoneAfterKill(t *testing.T) {
	z := newZone(t)
	token := "token-ab12cd34ef56"
	step := fmt.Sprintf(`echo "sensitive Token=%s" >> "$AIRLOCK_OUTPUT"; echo $$ > "#{Marker}.pid"; echo ok > "#{Marker}.out"; sleep 1000`, token)
	z.killWhen(z.build("1.0.0", step, 1), z.marker+".out")
	if _, err := z.resume(); err != nil {
		t.Fatal(err)
	}
	// Killed at once after the step started: its processes are stopped all
	// the same, found by what they carry if not yet by their group.
	assertDead(t, z.marker+".pid")
	filepath.WalkDir(z.trust.StateDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), token) {
				t.Errorf("%s holds the step's sensitive output", p)
			}
		}
		return nil
	})
	if left := z.leftovers(); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestPlantedReleasesLink: someone who can write the deploy target plants
// <to>/releases as a link to another directory with folders in it. airlock
// refuses to write through it (the deploy step fails and the apply rolls
// back), so nothing lands there and pruning removes nothing there.
func TestPlantedReleasesLink(t *testing.T) {
	z := newZone(t)
	elsewhere := filepath.Join(z.dir, "elsewhere")
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		if err := os.MkdirAll(filepath.Join(elsewhere, d), 0o755); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(filepath.Join(elsewhere, d), old, old)
	}
	os.MkdirAll(z.root, 0o755)
	if err := os.Symlink(elsewhere, filepath.Join(z.root, "releases")); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(z.build("1.0.0", "true", 1))
	if !errors.Is(err, ErrStepFailed) || res.Outcome != receipt.RolledBack {
		t.Fatalf("apply through a planted link: %v %v", res, err)
	}
	ents, _ := os.ReadDir(elsewhere)
	if len(ents) != 5 {
		t.Fatalf("the planted link's target was changed: %v", ents)
	}
	if !strings.Contains(z.receipt(res).Steps[1].Error, "symbolic link") {
		t.Fatalf("the receipt does not say why: %q", z.receipt(res).Steps[1].Error)
	}
	if _, err := os.Lstat(filepath.Join(z.root, "current")); !os.IsNotExist(err) {
		t.Fatal("current was created")
	}
}

// TestCurrentNotOurs: a current that is not a link airlock made (a
// directory someone put there) is refused and left in place: a failed
// switch never removes what airlock did not create.
func TestCurrentNotOurs(t *testing.T) {
	for name, plant := range map[string]func(p string) error{
		"empty directory": func(p string) error { return os.Mkdir(p, 0o755) },
		"link elsewhere":  func(p string) error { return os.Symlink("/etc", p) },
	} {
		t.Run(name, func(t *testing.T) {
			z := newZone(t)
			os.MkdirAll(z.root, 0o755)
			cur := filepath.Join(z.root, "current")
			if err := plant(cur); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Lstat(cur)
			res, err := z.apply(z.build("1.0.0", "true", 1))
			if !errors.Is(err, ErrStepFailed) || res.Outcome != receipt.RolledBack {
				t.Fatalf("%v %v", res, err)
			}
			after, err := os.Lstat(cur)
			if err != nil || after.Mode() != before.Mode() {
				t.Fatalf("current was removed or replaced: %v", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(z.root, "releases")); len(ents) != 0 {
				t.Fatalf("a release was left: %v", ents)
			}
		})
	}
}

// TestPruneOnlyRecorded: pruning removes only releases airlock recorded
// installing, oldest first by installation order — never a directory
// someone else put in releases/, however old it looks.
func TestPruneOnlyRecorded(t *testing.T) {
	z := newZone(t)
	manual := filepath.Join(z.root, "releases", "manual-backup")
	if err := os.MkdirAll(manual, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour)
	os.Chtimes(manual, old, old)
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0", "5.0.0"} {
		if _, err := z.apply(z.build(v, "true", uint64(i+1))); err != nil {
			t.Fatal(err)
		}
		// Modification times that lie about the order do not matter.
		future := time.Now().Add(time.Duration(10-i) * time.Hour)
		os.Chtimes(filepath.Join(z.root, "releases", v), future, future)
	}
	var names []string
	ents, _ := os.ReadDir(filepath.Join(z.root, "releases"))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "3.0.0 4.0.0 5.0.0 manual-backup" {
		t.Fatalf("releases after pruning: %v", names)
	}
}

// TestAllowRollbackKeepsHighest: --allow-rollback installs an older release
// but the channel keeps its highest sequence.
func TestAllowRollbackKeepsHighest(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("2.0.0", "true", 5)); err != nil {
		t.Fatal(err)
	}
	if _, err := z.apply(z.build("1.0.0", "true", 4), func(o *Options) { o.AllowRollback = true }); err != nil {
		t.Fatal(err)
	}
	rec, err := (&state{dir: z.trust.StateDir}).channel("shop", "stable")
	if err != nil || rec.Sequence != 5 {
		t.Fatalf("channel record %+v, %v: want the highest sequence 5", rec, err)
	}
	// Another bundle with sequence 4 is still a replay of a used number.
	if _, err := z.apply(z.build("1.0.1", "true", 4)); err == nil {
		t.Fatal("sequence 4 accepted again without --allow-rollback")
	}
}

// TestClockBehind: a zone clock earlier than the newest receipt refuses to
// apply, without a receipt; --clock-override applies and records it, and
// the audit reports it as an override, not a broken chain.
func TestClockBehind(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	b2 := z.build("2.0.0", "true", 2)
	z.now = z.now.Add(-time.Minute)
	if _, err := z.apply(b2); !errors.Is(err, ErrClockBehind) {
		t.Fatalf("err = %v, want ErrClockBehind", err)
	}
	if n := len(z.chain()); n != 1 {
		t.Fatalf("%d receipts after the refusal, want 1", n)
	}
	res, err := z.apply(b2, func(o *Options) { o.ClockOverride = true })
	if err != nil {
		t.Fatal(err)
	}
	if p := z.receipt(res); len(p.Override) != 1 || p.Override[0].Name != "clock-override" {
		t.Fatalf("overrides %+v", p.Override)
	}
	z.audit()
}

// TestChainHeadCappedAndVerified: the newest receipt is read with a size
// cap and verified before the chain is extended from it.
func TestChainHeadCappedAndVerified(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	b2 := z.build("2.0.0", "true", 2)
	head := filepath.Join(z.trust.StateDir, "receipts", receipt.FileName("test", "host1", 2))

	f, err := os.Create(head) // 2 GiB, sparse: reading it whole would take the memory
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(2 << 30)
	f.Close()
	var ve *receipt.VerifyError
	if _, err := z.apply(b2); !errors.As(err, &ve) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 2 GiB head: %v", err)
	}

	other := receipt.Predicate{ReceiptID: "x", Zone: "test", Seq: 2, PrevSHA256: strings.Repeat("0", 64),
		Outcome: receipt.Outcome{Result: receipt.Applied, Reason: receipt.ReasonOK}}
	forged, _ := receipt.Sign(&other, nil, z.f.Other)
	os.WriteFile(head, forged, 0o644)
	if _, err := z.apply(b2); !errors.As(err, &ve) {
		t.Fatalf("a head signed by another key: %v", err)
	}
	os.Remove(head)
	if _, err := z.apply(b2); err != nil {
		t.Fatal(err)
	}
	z.chain()
}

// TestMediaCopyRetried: when the receipt cannot be copied to the media
// (here: a file is in the folder's place), the apply still ends with its
// receipt in the state directory, and the journal keeps the copy pending:
// apply --resume copies it once the media can be written.
func TestMediaCopyRetried(t *testing.T) {
	z := newZone(t)
	if err := os.WriteFile(z.media(), []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(z.build("1.0.0", "true", 1))
	if err != nil || res.Outcome != receipt.Applied || res.ReceiptCopy != "" {
		t.Fatalf("%+v %v", res, err)
	}
	if !strings.Contains(z.out.String(), "receipt NOT copied") {
		t.Fatalf("the operator was not told:\n%s", z.out.String())
	}
	os.Remove(z.media())
	if res, err := z.resume(); err != nil || res == nil || res.ReceiptCopy == "" {
		t.Fatalf("resume: %+v %v", res, err)
	}
	z.checkMedia(2)
	if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
		t.Fatal("journal left after the copy")
	}
}
