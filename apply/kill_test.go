//go:build unix

package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

func TestMain(m *testing.M) {
	if os.Getenv("AIRLOCK_APPLY_CHILD") == "1" {
		os.Exit(childApply())
	}
	os.Exit(m.Run())
}

// childApply is the applier process that TestKillAnywhere kills.
func childApply() int {
	t, err := zone.Load(os.Getenv("AIRLOCK_CHILD_TRUST"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	now, _ := time.Parse(time.RFC3339, os.Getenv("AIRLOCK_CHILD_NOW"))
	o := Options{Bundle: os.Getenv("AIRLOCK_CHILD_BUNDLE"), Trust: t,
		Now: func() time.Time { return now }, Stdout: os.Stdout, Stderr: os.Stderr,
		ReceiptOut: os.Getenv("AIRLOCK_CHILD_MEDIA"), Note: os.Getenv("AIRLOCK_CHILD_NOTE"),
		afterJournal: killAt(os.Getenv("AIRLOCK_CHILD_KILL_AT"))}
	if name := os.Getenv("AIRLOCK_CHILD_KILL_IMAGE"); name != "" {
		o.afterImage = func(pushed string) {
			if pushed == name {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	if path := os.Getenv("AIRLOCK_CHILD_OPERATOR_KEY"); path != "" {
		if o.OperatorKey, err = keys.LoadPrivate(path, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if os.Getenv("AIRLOCK_CHILD_RESUME") == "1" {
		_, err = Resume(context.Background(), o)
	} else {
		_, err = Apply(context.Background(), o)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrStepFailed), errors.Is(err, ErrStateWrite):
		return 4
	case errors.Is(err, ErrStateUnusable):
		fmt.Fprintln(os.Stderr, err)
		return 10
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// killAt returns a journal hook that kills this process with SIGKILL the
// moment the journal records state at: "state" (its first occurrence) or
// "state#N" (its Nth).
func killAt(at string) func(string) {
	want, n := at, 1
	if name, count, ok := strings.Cut(at, "#"); ok {
		want = name
		if v, err := strconv.Atoi(count); err == nil {
			n = v
		}
	}
	hits := map[string]int{}
	if at == "" {
		return nil
	}
	return func(state string) {
		hits[state]++
		if state == want && hits[state] == n {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// TestKillAnywhere kills the applier right after each journal state, while
// it upgrades 1.0.0 to 2.0.0 (successfully, or with a failing step), then
// recovers. The host must be on exactly the old or the new release, the
// receipt chain intact with one receipt for the killed apply, and the zone
// able to go on.
func TestKillAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns an applier per journal state")
	}
	states := append([]string{}, JournalStates...)
	for i := 2; i <= 5; i++ {
		states = append(states, fmt.Sprintf("%s#%d", jStepStart, i), fmt.Sprintf("%s#%d", jStepEnd, i))
	}
	for _, failing := range []bool{false, true} {
		for _, at := range states {
			name := fmt.Sprintf("ok/%s", at)
			if failing {
				name = fmt.Sprintf("failing/%s", at)
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				killAndRecover(t, at, failing)
			})
		}
	}
}

func killAndRecover(t *testing.T, at string, failing bool) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	migrate := "true"
	if failing {
		migrate = "exit 7"
	}
	b2 := z.build("2.0.0", migrate, 2)
	out, err := z.child(b2, "AIRLOCK_CHILD_KILL_AT="+at, "AIRLOCK_CHILD_MEDIA="+z.media()).CombinedOutput()
	killed := false
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		killed = ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
		if !killed && !(failing && ee.ExitCode() == 4) {
			t.Fatalf("child failed: %v\n%s", err, out)
		}
	} else if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if killed != reached(at, failing) {
		t.Fatalf("killed=%v at %s, want %v\n%s", killed, at, !killed, out)
	}
	// The resume is not told where the media is: the journal remembers.
	res, err := z.resume()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	if killed && res == nil {
		t.Fatalf("killed at %s, but nothing to resume", at)
	}
	cur := z.current()
	chain := z.chain()
	if killed && cur == "releases/1.0.0" && at != jReceiptSigned && at != jReceiptWritten && !strings.Contains(chain[len(chain)-1].Outcome.Message, "interrupted at "+strings.Split(at, "#")[0]) {
		t.Fatalf("the receipt does not name the state the apply was interrupted at (%s): %q", at, chain[len(chain)-1].Outcome.Message)
	}
	if len(chain) != 2 {
		t.Fatalf("%d receipts after recovery, want 2 (killed=%v)", len(chain), killed)
	}
	last := chain[1]
	switch cur {
	case "releases/2.0.0":
		if failing || last.Outcome.Result != receipt.Applied {
			t.Fatalf("on the new release, but the receipt says %+v (failing=%v)", last.Outcome, failing)
		}
		conf, err := os.ReadFile(filepath.Join(z.root, "current", "conf", "app.conf"))
		if err != nil || len(conf) == 0 {
			t.Fatalf("new release incomplete: %v", err)
		}
	case "releases/1.0.0":
		// Killed before its first step, nothing ran: refused; after, rolled back.
		beforeSteps := at == jStarted || at == jVerified || at == jStaged
		if want := map[bool]receipt.OutcomeResult{true: receipt.Refused, false: receipt.RolledBack}[beforeSteps]; last.Outcome.Result != want {
			t.Fatalf("on the old release, but the receipt says %+v, want %s", last.Outcome, want)
		}
		if _, err := os.Stat(filepath.Join(z.root, "releases", "2.0.0")); !os.IsNotExist(err) {
			t.Fatal("a rolled-back release was left in releases/")
		}
	default:
		t.Fatalf("current is %q: neither the old nor the new release", cur)
	}
	if killed && at != jReceiptWritten && at != jReceiptSigned && !last.Resumed {
		t.Fatal("the recovered receipt does not say it was resumed")
	}
	if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
		t.Fatal("journal left after recovery")
	}
	z.checkMedia(3)
	if left := z.leftovers(); len(left) > 0 {
		t.Fatalf("left behind after recovery: %v", left)
	}
	z.audit()
	// The zone goes on: the same bundle again is either a replay or a fresh apply.
	res, err = z.apply(b2)
	switch {
	case cur == "releases/2.0.0" && (err != nil || res.Outcome != receipt.AlreadyApplied):
		t.Fatalf("re-apply after a completed apply: %v %v", res, err)
	case cur == "releases/1.0.0" && !failing && (err != nil || res.Outcome != receipt.Applied):
		t.Fatalf("re-apply after a rollback: %v %v", res, err)
	}
	z.chain()
}

// reached says whether an upgrade passes through journal state at: the
// successful one runs 4 steps and never reverts; the failing one runs 5
// (its failure step included) and never succeeds. Both sign a receipt.
func reached(at string, failing bool) bool {
	if failing {
		return at != jSucceeded && at != jChannelUpdated
	}
	return at != jReverted && at != jStepStart+"#5" && at != jStepEnd+"#5"
}

// TestRecoveryKilled: the recovery itself is killed after it reverted;
// the next one finishes it, and the receipt still names the state the
// apply was interrupted at (and says refused when no step had started).
func TestRecoveryKilled(t *testing.T) {
	for _, tc := range []struct {
		at   string
		want receipt.OutcomeResult
	}{{jSwitched, receipt.RolledBack}, {jStarted, receipt.Refused}} {
		t.Run(tc.at, func(t *testing.T) {
			t.Parallel()
			z := newZone(t)
			if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
				t.Fatal(err)
			}
			b2 := z.build("2.0.0", "true", 2)
			if out, err := z.child(b2, "AIRLOCK_CHILD_KILL_AT="+tc.at).CombinedOutput(); err == nil {
				t.Fatalf("the apply was not killed:\n%s", out)
			}
			if out, err := z.child(b2, "AIRLOCK_CHILD_RESUME=1", "AIRLOCK_CHILD_KILL_AT="+jReverted).CombinedOutput(); err == nil {
				t.Fatalf("the recovery was not killed:\n%s", out)
			}
			if _, err := z.resume(); err != nil {
				t.Fatal(err)
			}
			last := z.chain()[1]
			if last.Outcome.Result != tc.want || !strings.Contains(last.Outcome.Message, "interrupted at "+tc.at) {
				t.Fatalf("receipt %+v, want %s naming %s", last.Outcome, tc.want, tc.at)
			}
			if z.current() != "releases/1.0.0" {
				t.Fatalf("current %s", z.current())
			}
			z.audit()
		})
	}
}

// TestApplyRecoversFirst: an apply that finds an interrupted one finishes it
// (here: rolls it back) and writes its receipt before applying the new bundle.
func TestApplyRecoversFirst(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	b2 := z.build("2.0.0", "true", 2)
	if out, err := z.child(b2, "AIRLOCK_CHILD_KILL_AT="+jSwitched).CombinedOutput(); err == nil {
		t.Fatalf("the child was not killed:\n%s", out)
	}
	if z.current() != "releases/2.0.0" {
		t.Fatalf("killed after the switch, current is %q", z.current())
	}
	res, err := z.apply(z.build("3.0.0", "true", 3))
	if err != nil {
		t.Fatal(err)
	}
	if res.Recovered == nil || res.Recovered.Outcome != receipt.RolledBack || res.Outcome != receipt.Applied {
		t.Fatalf("result %+v, recovered %+v", res, res.Recovered)
	}
	chain := z.chain()
	if len(chain) != 3 || chain[1].Bundle.Version != "2.0.0" || !chain[1].Resumed || chain[2].Bundle.Version != "3.0.0" {
		t.Fatalf("chain %d receipts", len(chain))
	}
	if z.current() != "releases/3.0.0" {
		t.Fatalf("current %q", z.current())
	}
}
