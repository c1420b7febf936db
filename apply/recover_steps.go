package apply

import (
	"context"
	"errors"
	"fmt"
	"os"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// recoverSteps runs, for an apply whose applier died after its steps
// began, what an interrupted apply runs once its release switches are
// reverted: the when: failure and when: always steps after the step it
// stopped in, and the when: failure steps passed over since the last
// when: success step started. The step it stopped in is recorded as
// failed. The bundle is opened and verified again, and its payload
// staged again for its variables (the steps run in the step folders);
// the values the zone gives come from trust.yaml and the apply's
// --var-file, sensitive ones from the environment as for the apply, and
// outputs of the steps before are gone. It returns the back-out steps
// that did not complete, or why none could be run.
func (a *applier) recoverSteps(ctx context.Context) (incomplete []string, err error) {
	j := a.j
	if j.Backout == 0 {
		return nil, nil // none, or a journal of an airlock that did not run them
	}
	b, err := bundle.Open(j.Bundle)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	vr, err := verify.Bundle(ctx, b, verify.Options{Policy: a.o.Trust.Policy, Now: j.Receipt.Time.Started, Sequence: a.sequence})
	if err != nil {
		return nil, err
	}
	if vr.Statement.Predicate.BundleID != j.Receipt.Bundle.ID {
		return nil, fmt.Errorf("%s is now bundle %s, not the %s that was applied", j.Bundle, vr.Statement.Predicate.BundleID, j.Receipt.Bundle.ID)
	}
	m := vr.Manifest
	n := len(j.Receipt.Steps)
	if n > len(m.Steps) {
		return nil, fmt.Errorf("the receipt records %d steps, the bundle has %d", n, len(m.Steps))
	}
	if n <= j.Step && j.Step < len(m.Steps) { // it stopped in step j.Step, which has no record
		for ; n < j.Step; n++ { // not expected: every step is recorded when it ends
			s := m.Steps[n]
			j.Receipt.Steps = append(j.Receipt.Steps, receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When), Result: receipt.StepSkipped})
		}
		s := m.Steps[n]
		j.Receipt.Steps = append(j.Receipt.Steps, receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When),
			Result: receipt.StepFailed, Error: "interrupted: the applier stopped"})
		n++
	}
	if !backoutLeft(m, j.Receipt.Steps, n) {
		return nil, nil
	}
	ids, err := a.identities()
	if err != nil {
		return nil, err
	}
	dir := a.state.stagingDir(vr.Statement.Predicate.BundleID)
	os.RemoveAll(dir)
	staged, err := stage.Extract(ctx, stage.Options{Bundle: b, Predicate: &vr.Statement.Predicate, Manifest: m, Identities: ids, Dir: dir})
	if err != nil {
		return nil, fmt.Errorf("stage the payload: %w", err)
	}
	defer os.RemoveAll(dir)
	if a.o.VarFile == "" {
		a.o.VarFile = j.VarFile
	}
	vars, err := a.variables(staged, vr)
	if err != nil {
		return nil, err
	}
	r := a.newSteps(ctx, vr, staged, vars)
	defer r.close()
	r.failed = &failure{interrupted: errors.New("the applier stopped")}
	r.started = lastStarted(m, j.Receipt.Steps, n)
	fmt.Fprintf(a.o.Stdout, "airlock: running the back-out steps of the interrupted apply\n")
	r.catchUp(n)
	r.from(ctx, n)
	r.recordLeftRunning()
	return r.backout, nil
}

// lastStarted is the last when: success step before step n that started.
func lastStarted(m *bundle.Manifest, done []receipt.Step, n int) int {
	for k := n - 1; k >= 0; k-- {
		if w := m.Steps[k].When; w != bundle.WhenFailure && w != bundle.WhenAlways && done[k].Result != receipt.StepSkipped {
			return k
		}
	}
	return -1
}

// backoutLeft reports whether recovery has a step to run: a when:
// failure step passed over since the last when: success step started, or
// a step that runs after a failure from step n on.
func backoutLeft(m *bundle.Manifest, done []receipt.Step, n int) bool {
	for k := lastStarted(m, done, n) + 1; k < len(m.Steps); k++ {
		if k < n && (m.Steps[k].When != bundle.WhenFailure || done[k].Result != receipt.StepSkipped) {
			continue
		}
		if m.Steps[k].When.Runs(true) {
			return true
		}
	}
	return false
}

// backoutMessage is what the receipt of a recovery adds about the
// back-out steps.
func backoutMessage(incomplete []string, err error) string {
	switch {
	case err != nil:
		return "; the back-out steps could not be run: " + printable.String(err.Error())
	case len(incomplete) > 0:
		return fmt.Sprintf("; back-out step(s) %q did not complete", incomplete)
	}
	return ""
}
