package apply

import (
	"context"
	"errors"
	"fmt"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/mask"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// runSteps runs the steps in order. Steps with when: success run while
// nothing has failed; at the first failure — a step that fails, an
// interruption (ctx done: a signal), or a state directory that cannot be
// written — every release switch of this apply is reverted at once, then
// only when: failure and when: always steps run, on their own context:
// they are stopped only by o.Abort (a second signal) or their timeouts.
// when: always steps run on that context also before a failure: a signal
// does not fail them, it is noticed when they end.
//
// An interruption noticed between steps (or after the last one) is taken
// to have happened right after the last when: success step that started:
// the when: failure steps passed over since then run first, so that a
// signal at any moment runs the back-out.
func (a *applier) runSteps(ctx context.Context, vr *verify.Result, staged *stage.Staged, vars *variables) (*Result, error) {
	r := a.newSteps(ctx, vr, staged, vars)
	defer r.close()
	r.from(ctx, 0)
	a.j.Receipt.Variables = vars.usedNames()
	if r.failed == nil && ctx.Err() == nil {
		r.recordLeftRunning()
		return a.commit(vr)
	}
	if r.failed == nil { // interrupted after the last step, before the commit
		r.fail(&failure{interrupted: context.Cause(ctx)}, len(vr.Manifest.Steps))
	}
	r.recordLeftRunning()
	outcome, msg := r.outcome(r.failed.describe())
	return a.finish(outcome, r.failed.reason(), msg, r.failed.err())
}

// steps is a run of a release's steps: those of an apply, or the back-out
// steps of an apply that recovery finishes.
type steps struct {
	a       *applier
	vr      *verify.Result
	staged  *stage.Staged
	vars    *variables
	masker  *mask.Masker
	outputs *outputsDir
	folder  *stepFolders
	// cleanup is the context of the steps that run after a failure.
	cleanup     context.Context
	stopCleanup func()
	failed      *failure
	backout     []string // when: failure/always steps that did not succeed after a failure
	rollbackOK  bool
	started     int // the last when: success step that started
	// owner names the step after which each step process was first seen;
	// stopped says how many the failure stopped, and how that went.
	owner   map[int]string
	stopped string
}

func (a *applier) newSteps(ctx context.Context, vr *verify.Result, staged *stage.Staged, vars *variables) *steps {
	r := &steps{a: a, vr: vr, staged: staged, vars: vars, masker: mask.New(vars.secrets()), rollbackOK: true, started: -1,
		outputs: &outputsDir{parent: a.state.stagingRoot()}, folder: a.stepFolders(vr, staged), owner: map[int]string{}}
	if a.contain == nil {
		a.contain = steprun.Contain(a.applyID())
	}
	r.cleanup, r.stopCleanup = a.cleanupContext(ctx)
	return r
}

func (r *steps) close() {
	r.stopCleanup()
	r.outputs.remove()
}

// from runs the steps from step first on: those with when: success while
// nothing has failed, then the others.
func (r *steps) from(ctx context.Context, first int) {
	a, m := r.a, r.vr.Manifest
	for i := first; i < len(m.Steps); i++ {
		s := m.Steps[i]
		if r.failed == nil {
			switch {
			case ctx.Err() != nil:
				r.fail(&failure{interrupted: context.Cause(ctx)}, i)
			case a.state.trouble != nil:
				r.fail(&failure{state: a.state.trouble}, i)
			}
		}
		if !s.When.Runs(r.failed != nil) {
			a.j.Receipt.Steps = append(a.j.Receipt.Steps, receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When), Result: receipt.StepSkipped})
			continue
		}
		runCtx := ctx
		if r.failed != nil || s.When == bundle.WhenAlways {
			runCtx = r.cleanup
		}
		if r.failed == nil && s.When != bundle.WhenAlways {
			r.started = i
		}
		ok, notRun, serr := r.run(i, runCtx)
		rs := a.j.Receipt.Steps[i]
		switch {
		case r.failed != nil:
			if !ok {
				r.backout = append(r.backout, s.Name)
			}
		case notRun != nil:
			r.fail(&failure{step: s.Name, state: notRun}, i+1)
		case !ok && ctx.Err() != nil && s.When == bundle.WhenAlways:
			// The signal came before or while it ran: between steps.
			r.fail(&failure{interrupted: context.Cause(ctx)}, i+1)
		case !ok && ctx.Err() != nil:
			r.fail(&failure{step: s.Name, interrupted: context.Cause(ctx)}, i+1)
		case !ok && s.ContinueOnError:
			fmt.Fprintf(a.o.Stderr, "airlock: step %q failed (continueOnError): %s\n", s.Name, printable.String(rs.Error))
		case !ok:
			fmt.Fprintf(a.o.Stderr, "airlock: step %q failed: %s\n", s.Name, printable.String(rs.Error))
			r.fail(&failure{step: s.Name}, i+1)
		case serr != nil || a.state.trouble != nil:
			r.fail(&failure{step: s.Name, state: errors.Join(serr, a.state.trouble)}, i+1)
		}
	}
}

// run runs step i and records it in the receipt (replacing the record of
// a step passed over before); it reports whether it succeeded, why it
// could not be started (the journal could not be saved), and any error
// saving the journal after it.
func (r *steps) run(i int, runCtx context.Context) (ok bool, notRun, serr error) {
	a, m := r.a, r.vr.Manifest
	s := m.Steps[i]
	rs := receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When)}
	record := func() {
		if i < len(a.j.Receipt.Steps) {
			a.j.Receipt.Steps[i] = rs
		} else {
			a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
		}
	}
	a.j.Step = i
	if err := a.state.save(a.j, jStepStart); err != nil {
		rs.Result, rs.Error = receipt.StepFailed, "not run: "+err.Error()
		record()
		return false, err, nil
	}
	fmt.Fprintf(a.o.Stdout, "==> step %d/%d: %s\n", i+1, len(m.Steps), printable.String(s.Name))
	a.logf("==> step %d/%d: %s\n", i+1, len(m.Steps), s.Name)
	r.vars.builtins[bundle.BuiltinStepName] = s.Name
	if runner, known := stepRunners[s.Kind()]; known {
		dir, scripts := r.folder.dirs(r.failed != nil)
		ok = runner(a, &stepRun{ctx: runCtx, vr: r.vr, staged: r.staged, step: s, vars: r.vars, masker: r.masker, rs: &rs,
			outputs: r.outputs, dir: dir, scripts: scripts})
	} else {
		rs.Result, rs.Error = receipt.StepFailed, fmt.Sprintf("step kind %q is not supported by this airlock", s.Kind())
	}
	record()
	r.noteRunning(s.Name)
	a.j.Receipt.Variables = r.vars.usedNames()
	a.j.Running = nil
	return ok, nil, a.state.save(a.j, jStepEnd)
}

// fail ends the when: success steps: it reverts the release switches,
// then, for a failure noticed before step next (between steps), runs the
// back-out steps passed over since the last when: success step started.
func (r *steps) fail(f *failure, next int) {
	a := r.a
	r.failed = f
	fmt.Fprintf(a.o.Stderr, "airlock: %s: rolling back\n", printable.String(f.describe()))
	r.stopProcesses()
	if err := a.revert(); err != nil {
		r.rollbackOK = false
		fmt.Fprintf(a.o.Stderr, "airlock: rolling back the release switch failed: %s\n", printable.String(err.Error()))
	}
	if f.step != "" {
		return
	}
	r.catchUp(next)
}

// catchUp runs the when: failure steps before step next that were passed
// over since the last when: success step started.
func (r *steps) catchUp(next int) {
	m := r.vr.Manifest
	for k := r.started + 1; k < next && k < len(r.a.j.Receipt.Steps); k++ {
		if m.Steps[k].When != bundle.WhenFailure || r.a.j.Receipt.Steps[k].Result != receipt.StepSkipped {
			continue
		}
		if ok, _, _ := r.run(k, r.cleanup); !ok {
			r.backout = append(r.backout, m.Steps[k].Name)
		}
	}
}

// outcome is the receipt's outcome of a failed run, and its message.
func (r *steps) outcome(describe string) (receipt.OutcomeResult, string) {
	outcome, msg := receipt.RolledBack, describe+"; the previous release is current"+r.stopped
	if len(r.backout) > 0 {
		outcome = receipt.Failed
		msg += fmt.Sprintf("; back-out step(s) %q did not complete", r.backout)
	}
	if !r.rollbackOK {
		outcome, msg = receipt.Failed, describe+"; rolling back the release switch did not complete"+r.stopped
	}
	return outcome, msg
}
