//go:build unix

package apply

import (
	"strings"
	"testing"
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
