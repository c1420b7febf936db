//go:build unix

package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"airlock.dev/airlock/receipt"
)

// TestRetryProgress: a step that is retried says which attempt failed and
// which comes next, "attempt 2 of 3", so the operator knows it is not hung.
func TestRetryProgress(t *testing.T) {
	z := newZone(t)
	_, err := z.applySteps(`  - name: flaky
    run: 'exit 1'
    retries: 2
    retryDelay: 1ms
`, nil)
	if err == nil {
		t.Fatal("the failing step succeeded")
	}
	out := z.out.String()
	for _, want := range []string{`step "flaky": attempt 1 of 3 failed`, "attempt 2 of 3 in", "attempt 3 of 3 in"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
}

// TestSignalAtEveryStepBoundary: a signal at every journal state between
// the first step and the commit — before a step, while it runs, between
// two steps, after the last — stops the apply, runs the back-out step
// (when: failure) and the when: always step exactly once, and never
// records the when: always step as failed because of the signal.
func TestSignalAtEveryStepBoundary(t *testing.T) {
	// The journal states a whole apply goes through, in order.
	var states []string
	{
		z := newZone(t)
		o := z.opts(z.build("1.0.0", "true", 1))
		o.afterJournal = func(st string) { states = append(states, st) }
		if _, err := Apply(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	first, last := slices.Index(states, jStepStart), slices.Index(states, jSucceeded)
	if first < 0 || last < first {
		t.Fatalf("journal states %q", states)
	}
	for n := first; n < last; n++ {
		t.Run(fmt.Sprintf("%d-%s", n, states[n]), func(t *testing.T) {
			z := newZone(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o := z.opts(z.build("1.0.0", "true", 1))
			seen := 0
			o.afterJournal = func(string) {
				if seen == n {
					cancel(errors.New("signal: terminated"))
				}
				seen++
			}
			res, err := Apply(ctx, o)
			if !errors.Is(err, ErrInterrupted) || res == nil || res.Outcome != receipt.RolledBack {
				t.Fatalf("outcome %v, err %v\n%s", res, err, z.out.String())
			}
			p := z.receipt(res)
			if s := stepNamed(t, p, "undo"); s.Result != receipt.StepSucceeded {
				t.Errorf("the back-out step: %s %s", s.Result, s.Error)
			}
			if s := stepNamed(t, p, "audit trail"); s.Result != receipt.StepSucceeded {
				t.Errorf("the when: always step: %s %s", s.Result, s.Error)
			}
			if b, _ := os.ReadFile(z.marker + ".always"); string(b) != "always\n" {
				t.Errorf("the when: always step ran %d times", strings.Count(string(b), "always"))
			}
			if b, _ := os.ReadFile(z.marker); !strings.Contains(string(b), "undo") {
				t.Errorf("the back-out step did not run: %q", b)
			}
		})
	}
}

// shopHeader starts a release of the test zone whose first step deploys
// its package; Sprintf's first argument is the version.
const shopHeader = `apiVersion: airlock/v1
name: shop
version: %[1]q
channel: stable
targets: [zone:test]
expires: 24h
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent }
  Marker: { value: /nonexistent }
  Greeting: hello
  Secret: { sensitive: true, fromEnv: SHOP_SECRET }
steps:
  - name: install
    deploy: web
    to: "#{Root}"
`

// serviceRelease is a release whose steps start a "service" in the
// background that, once the apply has ended, reads a file of the payload
// by a relative path and says where it runs; a failing migrate makes a
// back-out step start it again.
func serviceRelease(version, migrate string) string {
	return fmt.Sprintf(shopHeader+`  - name: start
    run: '(sleep 0.4; { cat packages/web/index.html; pwd; } > "#{Marker}.tmp" 2>&1; mv "#{Marker}.tmp" "#{Marker}.%[1]s") >/dev/null 2>&1 &'
  - name: migrate
    run: %[2]q
  - name: restart
    when: failure
    run: '(sleep 0.4; { cat packages/web/index.html; pwd; } > "#{Marker}.tmp" 2>&1; mv "#{Marker}.tmp" "#{Marker}.restart") >/dev/null 2>&1 &'
`, version, migrate)
}

// TestStepFolderOutlivesApply: a service a step starts keeps its working
// directory — with the payload's files — after the apply has ended and
// removed its staging folder; after a rollback, the back-out step starts
// it in the previous release's step folder.
func TestStepFolderOutlivesApply(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.buildYAML(serviceRelease("1.0.0", "true"), 1))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, z.out.String())
	}
	first := z.receipt(res).Bundle.ID
	waitFile(t, z.marker+".1.0.0")
	b, _ := os.ReadFile(z.marker + ".1.0.0")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "<p>shop</p>" {
		t.Fatalf("the service lost its working directory: %q", b)
	}
	dir1 := lines[1]
	if _, err := os.Stat(filepath.Join(dir1, "packages", "web", "index.html")); err != nil || !strings.Contains(dir1, first) {
		t.Fatalf("the step ran in %s, not in a step folder of bundle %s that outlives the apply: %v", dir1, first, err)
	}

	if _, err := z.apply(z.buildYAML(serviceRelease("2.0.0", "exit 3"), 2)); err == nil {
		t.Fatal("the failing apply succeeded")
	}
	waitFile(t, z.marker+".restart")
	b, _ = os.ReadFile(z.marker + ".restart")
	if want := "<p>shop</p>\n" + dir1 + "\n"; string(b) != want {
		t.Fatalf("the back-out step's service: %q, want %q (the previous release's step folder)", b, want)
	}

	// A third apply keeps the step folders of the releases it keeps.
	if _, err := z.apply(z.buildYAML(serviceRelease("3.0.0", "true"), 3)); err != nil {
		t.Fatalf("apply: %v\n%s", err, z.out.String())
	}
	if _, err := os.Stat(dir1); err != nil {
		t.Fatalf("the previous release's step folder was removed: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir1))
	if len(ents) != 2 {
		t.Fatalf("step folders %v: want those of 1.0.0 and 3.0.0 only", ents)
	}
}

// TestResumeRunsBackout: after kill -9 in a step, apply --resume restores
// the release switch and runs the back-out (when: failure) and when:
// always steps, as an interrupted apply does; the receipt records the step
// the applier died in as failed.
func TestResumeRunsBackout(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	os.Remove(z.marker)
	z.killWhen(z.build("2.0.0", `echo x > "#{Marker}.running"; sleep 1000`, 2), z.marker+".running")
	res, err := z.resume()
	if err != nil || res == nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	if res.Outcome != receipt.RolledBack || z.current() != "releases/1.0.0" {
		t.Fatalf("outcome %s (%s), current %s\n%s", res.Outcome, res.Message, z.current(), z.out.String())
	}
	p := z.receipt(res)
	if s := stepNamed(t, p, "migrate"); s.Result != receipt.StepFailed || !strings.Contains(s.Error, "interrupted") {
		t.Errorf("the step the applier died in: %s %q", s.Result, s.Error)
	}
	for _, name := range []string{"undo", "audit trail"} {
		if s := stepNamed(t, p, name); s.Result != receipt.StepSucceeded {
			t.Errorf("step %s: %s %s", name, s.Result, s.Error)
		}
	}
	if b, _ := os.ReadFile(z.marker); !strings.Contains(string(b), "undo releases/1.0.0") {
		t.Errorf("the back-out step did not run after the rollback: %q", b)
	}
	z.audit()
}

// daemonRelease starts a daemon that leaves the step's process group and
// session (setsid) and records its pid, then runs migrate.
func daemonRelease(version, migrate string) string {
	return fmt.Sprintf(shopHeader+`  - name: start
    run: 'setsid sh -c "echo \$\$ > #{Marker}.tmp; mv #{Marker}.tmp #{Marker}.pid; exec sleep 1000" </dev/null >/dev/null 2>&1 & while ! test -s "#{Marker}.pid"; do sleep 0.01; done'
  - name: migrate
    run: %q
`, version, migrate)
}

// TestFailedApplyStopsDaemons: a process a step started with setsid does
// not outlive a failed apply: it is stopped before the receipt is written,
// and the receipt says so.
func TestFailedApplyStopsDaemons(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.buildYAML(daemonRelease("1.0.0", "exit 3"), 1))
	if err == nil || res == nil {
		t.Fatalf("the failing apply: %v", err)
	}
	assertDead(t, z.marker+".pid")
	if p := z.receipt(res); !strings.Contains(p.Outcome.Message, "process(es) the steps started were stopped") || len(p.LeftRunning) != 0 {
		t.Fatalf("receipt: %q, left running %v", p.Outcome.Message, p.LeftRunning)
	}
}

// TestAppliedDaemonsListed: after a successful apply the daemon a step
// started runs on, and the receipt lists it with the step that started it.
func TestAppliedDaemonsListed(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.buildYAML(daemonRelease("1.0.0", "true"), 1))
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, z.out.String())
	}
	b, _ := os.ReadFile(z.marker + ".pid")
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("the daemon (pid %q) does not run after the apply", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	p := z.receipt(res)
	if !slices.ContainsFunc(p.LeftRunning, func(lp receipt.Process) bool { return lp.PID == pid && lp.Step == "start" && lp.Name == "sleep" }) {
		t.Fatalf("the receipt lists %+v as left running, not the daemon %d", p.LeftRunning, pid)
	}
}

// TestResumeStopsDaemons: after kill -9 of the applier, resume stops the
// daemon an earlier step of the interrupted apply started with setsid,
// not only the processes of the step it died in.
func TestResumeStopsDaemons(t *testing.T) {
	z := newZone(t)
	z.killWhen(z.buildYAML(daemonRelease("1.0.0", `echo x > "#{Marker}.running"; sleep 1000`), 1), z.marker+".running")
	res, err := z.resume()
	if err != nil || res == nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	assertDead(t, z.marker+".pid")
	if msg := z.receipt(res).Outcome.Message; !strings.Contains(msg, "its steps started were stopped") {
		t.Fatalf("the receipt does not say the daemon was stopped: %q", msg)
	}
}

// TestStepFolderUnwritable: a step folder that cannot be made refuses the
// apply before any step runs, as a state directory that cannot be written.
func TestStepFolderUnwritable(t *testing.T) {
	z := newZone(t)
	if err := os.WriteFile(filepath.Join(z.trust.StateDir, stepsDirName), []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(z.build("1.0.0", "true", 1))
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != receipt.ReasonStateUnwritable || res == nil {
		t.Fatalf("apply: %v", err)
	}
	if p := z.receipt(res); len(p.Steps) != 0 || z.current() != "" {
		t.Fatalf("steps ran: %+v, current %q", p.Steps, z.current())
	}
}

// TestResumeBundleGone: when the bundle can no longer be read, resume
// still rolls back, and the receipt says failed: the back-out steps could
// not be run.
func TestResumeBundleGone(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	b := z.build("2.0.0", `echo x > "#{Marker}.running"; sleep 1000`, 2)
	z.killWhen(b, z.marker+".running")
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	res, err := z.resume()
	if err != nil || res == nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	if res.Outcome != receipt.Failed || !strings.Contains(res.Message, "the back-out steps could not be run") || z.current() != "releases/1.0.0" {
		t.Fatalf("outcome %s (%s), current %s", res.Outcome, res.Message, z.current())
	}
}
