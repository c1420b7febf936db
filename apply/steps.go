package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/apply/steprun"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/mask"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// failure is why an apply stopped running its when: success steps.
type failure struct {
	step        string // the step that failed ("" for an interruption between steps)
	interrupted error  // the cause of the interruption (a signal), if that was it
	state       error  // the state directory could not be written
}

func (f *failure) reason() receipt.Reason {
	switch {
	case f.interrupted != nil:
		return receipt.ReasonInterrupted
	case f.state != nil:
		return receipt.ReasonStateUnwritable
	}
	return receipt.ReasonStepFailed
}

// err is the error the apply returns: the interruption's cause (a signal:
// exit code 128+signal), or a step failure.
func (f *failure) err() error {
	switch {
	case f.interrupted != nil:
		return fmt.Errorf("%w: %w", ErrInterrupted, f.interrupted)
	case f.state != nil:
		return fmt.Errorf("%w: the state directory could not be written: %w", ErrStepFailed, f.state)
	}
	return fmt.Errorf("%w: %s", ErrStepFailed, f.step)
}

func (f *failure) describe() string {
	switch {
	case f.interrupted != nil && f.step != "":
		return fmt.Sprintf("%v in step %q", f.interrupted, f.step)
	case f.interrupted != nil:
		return f.interrupted.Error()
	case f.state != nil:
		return fmt.Sprintf("the state directory could not be written (%v)", f.state)
	}
	return fmt.Sprintf("step %q failed", f.step)
}

// runSteps runs the steps in order. Steps with when: success run while
// nothing has failed; at the first failure — a step that fails, an
// interruption (ctx done: a signal), or a state directory that cannot be
// written — every release switch of this apply is reverted at once, then
// only when: failure and when: always steps run, on their own context:
// they are stopped only by o.Abort (a second signal) or their timeouts.
func (a *applier) runSteps(ctx context.Context, vr *verify.Result, staged *stage.Staged, vars *variables) (*Result, error) {
	m := vr.Manifest
	masker := mask.New(vars.secrets())
	var failed *failure
	var backout []string // when: failure/always steps that did not succeed after a failure
	rollbackOK := true
	cleanup, stopCleanup := a.cleanupContext(ctx)
	defer stopCleanup()
	fail := func(f *failure) {
		failed = f
		fmt.Fprintf(a.o.Stderr, "airlock: %s: rolling back\n", printable.String(f.describe()))
		if err := a.revert(); err != nil {
			rollbackOK = false
			fmt.Fprintf(a.o.Stderr, "airlock: rolling back the release switch failed: %s\n", printable.String(err.Error()))
		}
	}
	outDir := ""
	defer func() {
		if outDir != "" {
			os.RemoveAll(outDir)
		}
	}()
	for i, s := range m.Steps {
		if failed == nil {
			switch {
			case ctx.Err() != nil:
				fail(&failure{interrupted: context.Cause(ctx)})
			case a.st.trouble != nil:
				fail(&failure{state: a.st.trouble})
			}
		}
		rs := receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When)}
		if !s.When.Runs(failed != nil) {
			rs.Result = receipt.StepSkipped
			a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
			continue
		}
		runCtx := ctx
		if failed != nil {
			runCtx = cleanup
		}
		a.j.Step = i
		if err := a.st.save(a.j, jStepStart); err != nil {
			rs.Result, rs.Error = receipt.StepFailed, "not run: "+err.Error()
			a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
			if failed == nil {
				fail(&failure{step: s.Name, state: err})
			} else {
				backout = append(backout, s.Name)
			}
			continue
		}
		fmt.Fprintf(a.o.Stdout, "==> step %d/%d: %s\n", i+1, len(m.Steps), printable.String(s.Name))
		a.logf("==> step %d/%d: %s\n", i+1, len(m.Steps), s.Name)
		vars.builtins[bundle.BuiltinStepName] = s.Name
		var ok bool
		switch s.Kind() {
		case bundle.KindDeploy:
			ok = a.deployStep(vr, staged, s, vars, masker, &rs)
		case bundle.KindRun, bundle.KindScript:
			if outDir == "" {
				var err error
				if outDir, err = atomicfile.MkdirTemp(filepath.Join(a.st.dir, "staging"), "outputs-"); err != nil {
					outDir = ""
					rs.Result, rs.Error = receipt.StepFailed, err.Error()
					break
				}
			}
			ok = a.runStep(runCtx, staged, s, vars, masker, &rs, outDir)
		case bundle.KindCheck:
			ok = a.checkStep(runCtx, s, vars, masker, &rs)
		default:
			rs.Result, rs.Error = receipt.StepFailed, fmt.Sprintf("step kind %q is not supported by this airlock", s.Kind())
		}
		a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
		a.j.Receipt.Variables = vars.usedNames()
		a.j.Running = nil
		serr := a.st.save(a.j, jStepEnd)
		switch {
		case failed != nil:
			if !ok {
				backout = append(backout, s.Name)
			}
		case !ok && ctx.Err() != nil:
			fail(&failure{step: s.Name, interrupted: context.Cause(ctx)})
		case !ok && s.ContinueOnError:
			fmt.Fprintf(a.o.Stderr, "airlock: step %q failed (continueOnError): %s\n", s.Name, printable.String(rs.Error))
		case !ok:
			fmt.Fprintf(a.o.Stderr, "airlock: step %q failed: %s\n", s.Name, printable.String(rs.Error))
			fail(&failure{step: s.Name})
		case serr != nil || a.st.trouble != nil:
			fail(&failure{step: s.Name, state: errors.Join(serr, a.st.trouble)})
		}
	}
	a.j.Receipt.Variables = vars.usedNames()
	if failed == nil && ctx.Err() == nil {
		return a.commit(vr)
	}
	if failed == nil { // interrupted after the last step, before the commit
		fail(&failure{interrupted: context.Cause(ctx)})
	}
	outcome, msg := receipt.RolledBack, failed.describe()+"; the previous release is current"
	if len(backout) > 0 {
		outcome = receipt.Failed
		msg += fmt.Sprintf("; back-out step(s) %q did not complete", backout)
	}
	if !rollbackOK {
		outcome, msg = receipt.Failed, failed.describe()+"; rolling back the release switch did not complete"
	}
	return a.finish(outcome, failed.reason(), msg, failed.err())
}

// cleanupContext is the context of the steps that run after a failure or
// an interruption: not canceled with ctx, only by o.Abort.
func (a *applier) cleanupContext(ctx context.Context) (context.Context, func()) {
	c, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	if a.o.Abort == nil {
		return c, func() { cancel(nil) }
	}
	stop := context.AfterFunc(a.o.Abort, func() { cancel(context.Cause(a.o.Abort)) })
	return c, func() { stop(); cancel(nil) }
}

// commit records the applied sequence, then writes the receipt. A state
// directory that cannot record it rolls back instead.
func (a *applier) commit(vr *verify.Result) (*Result, error) {
	p := &vr.Statement.Predicate
	rec := &channelRecord{Name: p.Name, Channel: p.Channel, Sequence: p.Sequence, BundleID: p.BundleID,
		Version: p.Version, AppliedAt: a.now, Receipt: a.j.Receipt.Seq}
	// --allow-rollback installs an older release, but the channel keeps its
	// highest sequence: a rollback never reopens the way for a replay.
	if old, err := a.st.channel(p.Name, p.Channel); err == nil && old != nil && old.Sequence > p.Sequence {
		rec = old
	}
	a.j.Channel = rec
	if err := a.st.save(a.j, jSucceeded); err != nil {
		return a.rollbackUnrecorded(err)
	}
	if err := a.st.setChannel(a.j.Channel); err != nil {
		// The journal says succeeded: a resume completes it.
		return nil, fmt.Errorf("record the channel's sequence: %w (the apply succeeded: run apply --resume once the state directory can be written)", err)
	}
	if err := a.st.save(a.j, jChannelUpdated); err != nil {
		return nil, fmt.Errorf("%w (the apply succeeded: run apply --resume once the state directory can be written)", err)
	}
	a.pruneReleases()
	msg := fmt.Sprintf("%s %s applied", p.Name, p.Version)
	return a.finish(receipt.Applied, receipt.ReasonOK, msg, nil)
}

// rollbackUnrecorded reverts an apply whose success could not be recorded.
func (a *applier) rollbackUnrecorded(cause error) (*Result, error) {
	f := &failure{state: cause}
	outcome, msg := receipt.RolledBack, f.describe()+"; the previous release is current"
	if err := a.revert(); err != nil {
		outcome, msg = receipt.Failed, f.describe()+"; rolling back the release switch did not complete"
	}
	return a.finish(outcome, f.reason(), msg, f.err())
}

// runStep runs an inline command or a script of the bundle. Its output
// file, and its substituted script, live in a folder of its own in outputs,
// under the state directory's staging folder, which recovery removes: a
// step's sensitive outputs never outlive the apply.
func (a *applier) runStep(ctx context.Context, staged *stage.Staged, s bundle.Step, vars *variables, masker *mask.Masker, rs *receipt.Step, outputs string) bool {
	outDir, err := os.MkdirTemp(outputs, "step-")
	if err != nil {
		rs.Result, rs.Error = receipt.StepFailed, err.Error()
		return false
	}
	defer os.RemoveAll(outDir)
	cmd := steprun.Command{
		Name: s.Name, Shell: s.Shell, Dir: staged.Root,
		Env:     vars.env(steprun.BaseEnv(os.Environ())),
		Timeout: time.Duration(s.Timeout), Retries: s.Retries, RetryDelay: time.Duration(s.RetryDelay),
		Stdout: a.stepOut, Stderr: a.stepErr, Mask: masker, OutputDir: outDir, Now: a.o.Now,
		OnStart: func(g steprun.Group) error {
			a.j.Running = &g
			return a.st.save(a.j, jStepRunning)
		},
	}
	if s.Run != "" {
		text, err := vars.expand(s.Run)
		if err != nil {
			rs.Result, rs.Error = receipt.StepFailed, err.Error()
			return false
		}
		cmd.Inline = text
	} else {
		cmd.Script = filepath.Join(staged.Root, filepath.FromSlash(s.Script))
		if s.Substitute.Script {
			if cmd.Script, err = substitutedScript(cmd.Script, outDir, vars); err != nil {
				rs.Result, rs.Error = receipt.StepFailed, fmt.Sprintf("substitute %s: %v", s.Script, err)
				return false
			}
		}
	}
	r := steprun.Run(ctx, cmd)
	rs.Started, rs.Finished, rs.Attempts, rs.ExitCode = r.Started.UTC(), r.Finished.UTC(), r.Attempts, r.ExitCode
	rs.StdoutSHA256, rs.StderrSHA256, rs.Tail = r.StdoutSHA256, r.StderrSHA256, r.Tail
	for k, v := range r.Outputs {
		vars.outputs["Steps."+s.Name+"."+k] = v
		if r.Sensitive[k] {
			vars.sensitive["Steps."+s.Name+"."+k] = true
			masker.Add(v)
		}
	}
	switch {
	case r.Err == nil:
		rs.Result = receipt.StepSucceeded
		return true
	case errors.Is(r.Err, steprun.ErrTimeout):
		rs.Result = receipt.StepTimedOut
	default:
		rs.Result = receipt.StepFailed
	}
	rs.Error = masker.String(r.Err.Error())
	return false
}

// deployStep installs a package and switches the target's current release.
func (a *applier) deployStep(vr *verify.Result, staged *stage.Staged, s bundle.Step, vars *variables, masker *mask.Masker, rs *receipt.Step) bool {
	rs.Started, rs.Attempts = a.o.Now().UTC(), 1
	fail := func(err error) bool {
		rs.Finished, rs.Result, rs.ExitCode = a.o.Now().UTC(), receipt.StepFailed, 1
		rs.Error = masker.String(err.Error())
		return false
	}
	to, err := vars.expand(s.To)
	if err != nil {
		return fail(err)
	}
	if !filepath.IsAbs(to) {
		return fail(fmt.Errorf("deploy target %q is not an absolute path", to))
	}
	to = filepath.Clean(to)
	var pkg *bundle.PackageRef
	for i := range vr.Manifest.Packages {
		if vr.Manifest.Packages[i].Name == s.Deploy {
			pkg = &vr.Manifest.Packages[i]
		}
	}
	if pkg == nil {
		return fail(fmt.Errorf("package %q is not in the manifest", s.Deploy))
	}
	files, err := newDeployFiles(vr.Manifest, &s, vars)
	if err != nil {
		return fail(err)
	}
	ir, err := prepareInstall(to, vr.Statement.Predicate.Version)
	if err != nil {
		return fail(fmt.Errorf("deploy target %s: %w", to, err))
	}
	a.j.Install = ir
	if err := a.st.save(a.j, jInstallIntent); err != nil {
		a.j.Install = nil
		return fail(err)
	}
	res, err := install(staged.Root, vr.Manifest, *pkg, deployedOnce(vr.Manifest, s.Deploy), ir, files)
	if err == nil {
		err = a.st.addRelease(to, releaseRecord{Name: ir.Name, BundleID: vr.Statement.Predicate.BundleID, Receipt: a.j.Receipt.Seq})
	}
	if err != nil {
		a.abandonInstall()
		return fail(fmt.Errorf("install %s into %s: %w", s.Deploy, to, err))
	}
	sw := switchRecord{To: to, Previous: ir.Previous, Next: filepath.ToSlash(filepath.Join(releasesDir, ir.Name)), Dir: res.dir, Keep: s.Keep}
	a.j.Switches = append(a.j.Switches, sw)
	a.j.Install = nil
	if err := a.st.save(a.j, jSwitchIntent); err != nil {
		return fail(err) // the revert removes the new release
	}
	if err := switchTo(to, sw.Next); err != nil {
		return fail(err)
	}
	if err := a.st.save(a.j, jSwitched); err != nil {
		return fail(err)
	}
	a.release = res.dir
	if err := a.recordFiles(res.files); err != nil {
		return fail(err)
	}
	a.j.Receipt.Release = &receipt.Release{Previous: sw.Previous, Current: sw.Next, Target: to}
	a.recordReleases()
	fmt.Fprintf(a.o.Stdout, "deployed %s to %s (%d files); %s/current -> %s\n",
		printable.String(s.Deploy), printable.String(res.dir), len(res.files), printable.String(to), printable.String(sw.Next))
	rs.Finished, rs.Result = a.o.Now().UTC(), receipt.StepSucceeded
	return true
}

// abandonInstall removes the release the journal says is being installed,
// half-written or whole, and forgets it.
func (a *applier) abandonInstall() {
	ir := a.j.Install
	if ir == nil {
		return
	}
	if rel, err := openReleases(ir.To); err == nil {
		rel.RemoveAll(ir.Tmp)
		if cur, _ := readCurrent(ir.To); cur != filepath.ToSlash(filepath.Join(releasesDir, ir.Name)) {
			rel.RemoveAll(ir.Name)
		}
		rel.Close()
	}
	a.st.dropRelease(ir.To, ir.Name)
	a.j.Install = nil
}

// recordReleases lists every deploy switch of this apply in the receipt,
// each target with the release it is on now, read back from disk: the
// receipt never claims a state that is not there.
func (a *applier) recordReleases() {
	var out []receipt.Release
	for _, sw := range a.j.Switches {
		out = append(out, receipt.Release{Target: sw.To, Previous: sw.Previous, Current: onDisk(sw.To)})
	}
	a.j.Receipt.Releases = out
}

// onDisk is the target of <to>/current as it is on disk.
func onDisk(to string) string {
	cur, err := readCurrent(to)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	return cur
}

// deployedOnce reports whether only one step deploys the package, so its
// staged tree may be moved into place instead of copied.
func deployedOnce(m *bundle.Manifest, pkg string) bool {
	n := 0
	for _, s := range m.Steps {
		if s.Deploy == pkg {
			n++
		}
	}
	return n == 1
}

// revert switches every deploy target of this apply back to its previous
// release, newest first, and removes the releases it installed (a release
// being installed included). The receipt then says what current is on disk.
func (a *applier) revert() error {
	var errs []error
	a.abandonInstall()
	for i := len(a.j.Switches) - 1; i >= 0; i-- {
		sw := &a.j.Switches[i]
		if sw.Reverted {
			continue
		}
		if err := switchBack(sw); err != nil {
			errs = append(errs, err)
			continue
		}
		name := filepath.Base(sw.Dir)
		if sw.Next != sw.Previous {
			if err := removeRelease(sw.To, name); err != nil {
				errs = append(errs, err)
			} else if err := a.st.dropRelease(sw.To, name); err != nil {
				errs = append(errs, err)
			}
		}
		sw.Reverted = true
		fmt.Fprintf(a.o.Stdout, "rolled back %s/current -> %s\n", printable.String(sw.To), printable.String(orNone(sw.Previous)))
	}
	if len(a.j.Switches) > 0 {
		first := a.j.Switches[0]
		a.j.Receipt.Release = &receipt.Release{Previous: first.Previous, Current: onDisk(first.To), Target: first.To}
		a.recordReleases()
	}
	if err := a.st.save(a.j, jReverted); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// pruneReleases keeps the newest releases of each deploy target and
// records the release directories it removed in the receipt (PCI DSS
// 10.2.1.7: deletion of system-level objects).
func (a *applier) pruneReleases() {
	for _, sw := range a.j.Switches {
		if sw.Reverted {
			continue
		}
		rec, err := a.st.target(sw.To)
		var kept *targetRecord
		if err == nil {
			kept, err = prune(rec, max(sw.Keep, 1), sw.Next, sw.Previous)
			if serr := a.st.setTarget(kept); err == nil {
				err = serr
			}
		}
		if err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: pruning old releases in %s: %s\n", printable.String(sw.To), printable.String(err.Error()))
		}
		if rec == nil || kept == nil {
			continue
		}
		for _, r := range rec.Releases {
			if slices.ContainsFunc(kept.Releases, func(k releaseRecord) bool { return k.Name == r.Name }) {
				continue
			}
			if a.j.Receipt.Release == nil {
				a.j.Receipt.Release = &receipt.Release{}
			}
			a.j.Receipt.Release.Pruned = append(a.j.Receipt.Release.Pruned, filepath.Join(sw.To, "releases", r.Name))
		}
	}
}
