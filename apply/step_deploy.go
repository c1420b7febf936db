package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

// errDeployTimeout is the cause of a deploy step's context when its
// timeout passes.
var errDeployTimeout = errors.New("timed out")

// deployStep installs a package and switches the target's current release.
// Its work on the files (copies, substitution, structured replacement)
// stops when the step's timeout passes (the step times out) or r.ctx ends
// (a signal); the release switch itself, once begun, is finished or
// reverted as any failure is.
func (a *applier) deployStep(r *stepRun) bool {
	vr, s, vars, rs := r.vr, r.step, r.vars, r.rs
	rs.Started, rs.Attempts = a.o.Now().UTC(), 1
	ctx := r.ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(s.Timeout), errDeployTimeout)
		defer cancel()
	}
	fail := func(err error) bool {
		r.fail(a.o.Now(), err)
		if errors.Is(err, errDeployTimeout) {
			rs.Result = receipt.StepTimedOut
			rs.Error = r.masker.String(fmt.Sprintf("step %q: timed out after %v (%s)", s.Name, time.Duration(s.Timeout), err))
		}
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
	if terr := a.targetAllowed(to); terr != nil {
		return fail(terr)
	}
	var pkg *bundle.PackageRef
	for i := range vr.Manifest.Packages {
		if vr.Manifest.Packages[i].Name == s.Deploy {
			pkg = &vr.Manifest.Packages[i]
		}
	}
	if pkg == nil {
		return fail(fmt.Errorf("package %q is not in the manifest", s.Deploy))
	}
	files, err := newDeployFiles(ctx, vr.Manifest, &s, vars, a.state.fileKey)
	if err != nil {
		return fail(err)
	}
	ir, err := prepareInstall(to, vr.Statement.Predicate.Version)
	if err != nil {
		return fail(fmt.Errorf("deploy target %s: %w", to, err))
	}
	a.j.Install = ir
	if err := a.state.save(a.j, jInstallIntent); err != nil {
		a.j.Install = nil
		return fail(err)
	}
	res, err := install(r.staged.Root, vr.Manifest, *pkg, deployedOnce(vr.Manifest, s.Deploy), ir, files)
	if err == nil {
		err = a.state.addRelease(to, releaseRecord{Name: ir.Name, BundleID: vr.Statement.Predicate.BundleID, Receipt: a.j.Receipt.Seq,
			Application: a.application()})
	}
	if err != nil {
		a.abandonInstall()
		return fail(fmt.Errorf("install %s into %s: %w", s.Deploy, to, err))
	}
	sw := switchRecord{To: to, Previous: ir.Previous, Next: filepath.ToSlash(filepath.Join(releasesDir, ir.Name)), Dir: res.dir, Keep: s.Keep}
	a.j.Switches = append(a.j.Switches, sw)
	a.j.Install = nil
	if err := a.state.save(a.j, jSwitchIntent); err != nil {
		return fail(err) // the revert removes the new release
	}
	if err := switchTo(to, sw.Next); err != nil {
		return fail(err)
	}
	if err := a.state.save(a.j, jSwitched); err != nil {
		return fail(err)
	}
	a.release = res.dir
	if err := a.recordFiles(res.files); err != nil {
		return fail(err)
	}
	a.j.Receipt.Release = &receipt.Release{Previous: sw.Previous, Current: sw.Next, Target: to, Application: a.application()}
	a.recordReleases()
	fmt.Fprintf(a.o.Stdout, "deployed %s to %s (%d files); %s/current -> %s\n",
		printable.String(s.Deploy), printable.String(res.dir), len(res.files), printable.String(to), printable.String(sw.Next))
	rs.Finished, rs.Result = a.o.Now().UTC(), receipt.StepSucceeded
	return true
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
