//go:build unix

package apply

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/capped/cappedtest"
	"airlock.dev/airlock/receipt"
)

// TestFIFOVarFile: a --var-file that is a named pipe is refused as not a
// regular file instead of waiting for a writer.
func TestFIFOVarFile(t *testing.T) {
	z := newZone(t)
	fifo := cappedtest.FIFO(t, filepath.Join(z.dir, "vars.yaml"))
	dir, _ := z.f.Build(bundletest.Options{YAML: stepsRelease("  - name: hi\n    run: echo hi\n"), Files: map[string]string{}, Sequence: 1})
	cappedtest.Returns(t, fifo, func() {
		_, err := z.apply(dir, func(o *Options) { o.VarFile = fifo })
		var nr *capped.NotRegularError
		if !errors.As(err, &nr) {
			t.Errorf("apply: %v, want the var-file refused as not a regular file", err)
		}
	})
}

// TestFIFOCAFile: a check whose caFile is a named pipe fails with a
// receipt that says so, instead of waiting for a writer past its timeout.
func TestFIFOCAFile(t *testing.T) {
	z := newZone(t)
	fifo := cappedtest.FIFO(t, filepath.Join(z.dir, "ca.pem"))
	cappedtest.Returns(t, fifo, func() {
		p, err := z.applySteps(fmt.Sprintf("  - name: check\n    check: { http: \"https://127.0.0.1:1/\", caFile: %q, interval: 200ms, timeout: 1s }\n", fifo), nil)
		if !errors.Is(err, ErrStepFailed) {
			t.Errorf("apply: %v, want the check to fail", err)
		}
		if s := stepNamed(t, p, "check"); s.Result != receipt.StepFailed || !strings.Contains(s.Error, "named pipe") {
			t.Errorf("check: %+v, want it failed on a caFile that is a named pipe", s)
		}
	})
}
