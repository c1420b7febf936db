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

// stepRunners is the one table of how the applier runs each kind of
// step of bundle.StepKinds(), each runner in its kind's own file
// (step_<kind>.go). A test fails when a kind has no runner.
var stepRunners = map[bundle.StepKind]stepRunner{
	bundle.KindRun:    (*applier).runStep,
	bundle.KindScript: (*applier).scriptStep,
	bundle.KindDeploy: (*applier).deployStep,
	bundle.KindHealth: (*applier).healthStep,
	bundle.KindPush:   (*applier).pushStep,
}

// A stepRunner runs one step of its kind, records the result in r.rs and
// reports whether the step succeeded.
type stepRunner func(a *applier, r *stepRun) bool

// stepRun is what a runner gets: the step, and the apply it is part of.
type stepRun struct {
	// ctx is canceled by an interruption (a signal); after a failure, only
	// by o.Abort.
	ctx     context.Context
	vr      *verify.Result
	staged  *stage.Staged
	step    bundle.Step
	vars    *variables
	masker  *mask.Masker
	rs      *receipt.Step // the step's record in the receipt
	outputs *outputsDir
	// dir is the working directory of a step that runs a process, and
	// scripts the folder its script is in: the apply's step folder, or
	// after a rollback the previous release's (stepfolder.go).
	dir, scripts string
}

// fail records that the step failed with err, masked, and returns false.
func (r *stepRun) fail(now time.Time, err error) bool {
	r.rs.Finished, r.rs.Result, r.rs.ExitCode = now.UTC(), receipt.StepFailed, 1
	r.rs.Error = r.masker.String(err.Error())
	return false
}

// outputsDir is the folder of the steps' $AIRLOCK_OUTPUT files, in the
// state directory's staging folder (which recovery empties): made when a
// step first needs it, removed when the steps are done.
type outputsDir struct{ parent, dir string }

func (o *outputsDir) get() (string, error) {
	if o.dir == "" {
		dir, err := atomicfile.MkdirTemp(o.parent, "outputs-")
		if err != nil {
			return "", err
		}
		o.dir = dir
	}
	return o.dir, nil
}

func (o *outputsDir) remove() {
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
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
	if old, err := a.state.channel(p.Name, p.Channel); err == nil && old != nil && old.Sequence > p.Sequence {
		rec = old
	}
	a.j.Channel = rec
	if err := a.state.save(a.j, jSucceeded); err != nil {
		return a.rollbackUnrecorded(err)
	}
	if err := a.state.setChannel(a.j.Channel); err != nil {
		// The journal says succeeded: a resume completes it.
		return nil, fmt.Errorf("record the channel's sequence: %w (the apply succeeded: run apply --resume once the state directory can be written)", err)
	}
	if err := a.state.save(a.j, jChannelUpdated); err != nil {
		return nil, fmt.Errorf("%w (the apply succeeded: run apply --resume once the state directory can be written)", err)
	}
	a.pruneReleases()
	a.recordInventory(vr)
	msg := fmt.Sprintf("%s %s applied", p.Name, p.Version)
	return a.finish(receipt.Applied, receipt.ReasonOK, msg, nil)
}

// rollbackUnrecorded reverts an apply whose success could not be recorded.
func (a *applier) rollbackUnrecorded(cause error) (*Result, error) {
	f := &failure{state: cause}
	stopped := a.stopStepProcesses()
	outcome, msg := receipt.RolledBack, f.describe()+"; the previous release is current"
	if err := a.revert(); err != nil {
		outcome, msg = receipt.Failed, f.describe()+"; rolling back the release switch did not complete"
	}
	return a.finish(outcome, f.reason(), msg+stopped, f.err())
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
	a.state.dropRelease(ir.To, ir.Name)
	a.j.Install = nil
}

// recordReleases lists every deploy switch of this apply in the receipt,
// each target with the release it is on now, read back from disk: the
// receipt never claims a state that is not there.
func (a *applier) recordReleases() {
	var out []receipt.Release
	for _, sw := range a.j.Switches {
		out = append(out, receipt.Release{Target: sw.To, Previous: sw.Previous, Current: onDisk(sw.To), Application: a.application()})
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
			} else if err := a.state.dropRelease(sw.To, name); err != nil {
				errs = append(errs, err)
			}
		}
		sw.Reverted = true
		fmt.Fprintf(a.o.Stdout, "rolled back %s/current -> %s\n", printable.String(sw.To), printable.String(orNone(sw.Previous)))
	}
	if len(a.j.Switches) > 0 {
		first := a.j.Switches[0]
		a.j.Receipt.Release = &receipt.Release{Previous: first.Previous, Current: onDisk(first.To), Target: first.To, Application: a.application()}
		a.recordReleases()
	}
	if err := a.state.save(a.j, jReverted); err != nil {
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

// pruneReleases records that each deploy target of this successful
// apply belongs to its application (claim), keeps the newest releases of
// the application there — never another application's — and records
// the release directories it removed in the receipt (PCI DSS 10.2.1.7:
// deletion of system-level objects); then the step folders of releases no
// longer kept (stepfolder.go).
func (a *applier) pruneReleases() {
	for _, sw := range a.j.Switches {
		if sw.Reverted {
			continue
		}
		rec, err := a.state.target(sw.To)
		var kept *targetRecord
		if err == nil {
			if a.claim(rec) {
				a.adopted(sw.To, rec)
			}
			kept, err = prune(rec, max(sw.Keep, 1), a.application(), sw.Next, sw.Previous)
			if serr := a.state.setTarget(kept); err == nil {
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
	a.pruneStepFolders()
}
