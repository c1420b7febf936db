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
	"airlock.dev/airlock/internal/mask"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// runSteps runs the steps in order. Steps with when: success run while
// nothing has failed; at the first failure every release switch of this
// apply is reverted, then only when: failure and when: always steps run.
func (a *applier) runSteps(ctx context.Context, vr *verify.Result, staged *stage.Staged, vars *variables) (*Result, error) {
	m := vr.Manifest
	masker := mask.New(vars.secrets())
	var failedStep string
	rollbackOK := true
	for i, s := range m.Steps {
		rs := receipt.Step{Name: s.Name, Kind: string(s.Kind()), When: string(s.When)}
		if !s.When.Runs(failedStep != "") {
			rs.Result = receipt.StepSkipped
			a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
			continue
		}
		a.j.Step = i
		if err := a.st.save(a.j, jStepStart); err != nil {
			return nil, err
		}
		fmt.Fprintf(a.o.Stdout, "==> step %d/%d: %s\n", i+1, len(m.Steps), s.Name)
		a.logf("==> step %d/%d: %s\n", i+1, len(m.Steps), s.Name)
		vars.builtins[bundle.BuiltinStepName] = s.Name
		var ok bool
		switch s.Kind() {
		case bundle.KindDeploy:
			ok = a.deployStep(vr, staged, s, vars, masker, &rs)
		case bundle.KindRun, bundle.KindScript:
			ok = a.runStep(ctx, staged, s, vars, masker, &rs)
		case bundle.KindCheck:
			ok = a.checkStep(ctx, s, vars, masker, &rs)
		default:
			rs.Result, rs.Error = receipt.StepFailed, fmt.Sprintf("step kind %q is not supported by this airlock", s.Kind())
		}
		a.j.Receipt.Steps = append(a.j.Receipt.Steps, rs)
		a.j.Receipt.Variables = vars.usedNames()
		if err := a.st.save(a.j, jStepEnd); err != nil {
			return nil, err
		}
		switch {
		case ok || s.ContinueOnError:
		case failedStep == "":
			failedStep = s.Name
			fmt.Fprintf(a.o.Stderr, "airlock: step %q failed: %s\n", s.Name, rs.Error)
			if err := a.revert(); err != nil {
				rollbackOK = false
				fmt.Fprintf(a.o.Stderr, "airlock: rolling back the release switch failed: %v\n", err)
			}
		default:
			rollbackOK = false // a failure step failed
		}
	}
	a.j.Receipt.Variables = vars.usedNames()
	if failedStep != "" {
		outcome, msg := receipt.RolledBack, fmt.Sprintf("step %q failed; the previous release is current", failedStep)
		if !rollbackOK {
			outcome, msg = receipt.Failed, fmt.Sprintf("step %q failed and the rollback did not complete", failedStep)
		}
		return a.finish(outcome, receipt.ReasonStepFailed, msg, fmt.Errorf("%w: %s", ErrStepFailed, failedStep))
	}
	return a.commit(vr)
}

// commit records the applied sequence, then writes the receipt.
func (a *applier) commit(vr *verify.Result) (*Result, error) {
	p := &vr.Statement.Predicate
	a.j.Channel = &channelRecord{Name: p.Name, Channel: p.Channel, Sequence: p.Sequence, BundleID: p.BundleID,
		Version: p.Version, AppliedAt: a.now, Receipt: a.j.Receipt.Seq}
	if err := a.st.save(a.j, jSucceeded); err != nil {
		return nil, err
	}
	if err := a.st.setChannel(a.j.Channel); err != nil {
		return nil, err
	}
	if err := a.st.save(a.j, jChannelUpdated); err != nil {
		return nil, err
	}
	a.pruneReleases()
	msg := fmt.Sprintf("%s %s applied", p.Name, p.Version)
	return a.finish(receipt.Applied, receipt.ReasonOK, msg, nil)
}

// runStep runs an inline command or a script of the bundle.
func (a *applier) runStep(ctx context.Context, staged *stage.Staged, s bundle.Step, vars *variables, masker *mask.Masker, rs *receipt.Step) bool {
	outDir, err := os.MkdirTemp(a.st.dir, "step-output-")
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
	if len(s.Structured) > 0 || len(s.Files) > 0 {
		// Not yet applied: a file meant to be 0640 must not be deployed 0644.
		return fail(errors.New("structured replacement and files rules are not applied by this airlock: deploy it with a newer one"))
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
	res, err := install(staged.Root, vr.Manifest, *pkg, deployedOnce(vr.Manifest, s.Deploy), to, vr.Statement.Predicate.Version, vr.Manifest.SubstituteGlobs(&s), vars)
	if err != nil {
		return fail(fmt.Errorf("install %s into %s: %w", s.Deploy, to, err))
	}
	res.sw.Keep = s.Keep
	a.j.Switches = append(a.j.Switches, res.sw)
	if err := a.st.save(a.j, jSwitchIntent); err != nil {
		return fail(err)
	}
	if err := switchTo(to, res.sw.Next); err != nil {
		return fail(err)
	}
	if err := a.st.save(a.j, jSwitched); err != nil {
		return fail(err)
	}
	a.release = res.dir
	if err := a.recordFiles(res.files); err != nil {
		return fail(err)
	}
	a.j.Receipt.Release = &receipt.Release{Previous: res.sw.Previous, Current: res.sw.Next, Target: to}
	a.recordReleases()
	fmt.Fprintf(a.o.Stdout, "deployed %s to %s (%d files); %s/current -> %s\n", s.Deploy, res.dir, len(res.files), to, res.sw.Next)
	rs.Finished, rs.Result = a.o.Now().UTC(), receipt.StepSucceeded
	return true
}

// recordReleases lists every deploy switch of this apply in the receipt,
// each target with the release it is on now.
func (a *applier) recordReleases() {
	var out []receipt.Release
	for _, sw := range a.j.Switches {
		current := sw.Next
		if sw.Reverted {
			current = sw.Previous
		}
		out = append(out, receipt.Release{Target: sw.To, Previous: sw.Previous, Current: current})
	}
	a.j.Receipt.Releases = out
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
// release, newest first, and removes the releases it had installed.
func (a *applier) revert() error {
	var errs []error
	for i := len(a.j.Switches) - 1; i >= 0; i-- {
		sw := &a.j.Switches[i]
		if sw.Reverted {
			continue
		}
		if err := switchTo(sw.To, sw.Previous); err != nil {
			errs = append(errs, err)
			continue
		}
		if filepath.Join(sw.To, sw.Previous) != sw.Dir {
			os.RemoveAll(sw.Dir)
		}
		sw.Reverted = true
		fmt.Fprintf(a.o.Stdout, "rolled back %s/current -> %s\n", sw.To, orNone(sw.Previous))
	}
	if len(a.j.Switches) > 0 {
		a.j.Receipt.Release = &receipt.Release{Previous: a.j.Switches[0].Previous, Current: a.j.Switches[0].Previous, Target: a.j.Switches[0].To}
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
		before := releaseDirs(sw.To)
		if err := prune(sw.To, max(sw.Keep, 1), sw.Next, sw.Previous); err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: pruning old releases in %s: %v\n", sw.To, err)
		}
		after := releaseDirs(sw.To)
		for _, name := range before {
			if !slices.Contains(after, name) {
				if a.j.Receipt.Release == nil {
					a.j.Receipt.Release = &receipt.Release{}
				}
				a.j.Receipt.Release.Pruned = append(a.j.Receipt.Release.Pruned, filepath.Join(sw.To, "releases", name))
			}
		}
	}
}

// releaseDirs lists the release directories of a deploy target.
func releaseDirs(to string) []string {
	ents, _ := os.ReadDir(filepath.Join(to, "releases"))
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
