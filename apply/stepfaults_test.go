//go:build unix

package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
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
