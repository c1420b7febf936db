package apply

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/verify"
)

// Step folders. The steps that run a process (run, script) do not run in
// the staging folder, which the apply removes when it ends: a service a
// step starts would lose its working directory. Each apply has a step
// folder instead, state/steps/<application>/<bundle id>: the staged
// payload, hard-linked (copied where links cannot be made) before the
// first step. Its steps run there, and its scripts are run from there.
// After a rollback the back-out steps run in the previous release's step
// folder (the scripts still from the apply's own), so that a service they
// restart keeps its working directory. A step folder is kept while the
// application keeps a release its bundle installed, or its bundle is the
// one applied last; the next successful apply of the application removes
// the others (with the releases keep: prunes).

// stepsDirName is the folder of the step folders in the state directory.
const stepsDirName = "steps"

func (s *state) stagingRoot() string { return filepath.Join(s.dir, "staging") }

// stepFolder is the step folder of bundle id of application app, or ""
// when either is not a plain file name.
func (s *state) stepFolder(app, id string) string {
	if !plainName(app) || !plainName(id) {
		return ""
	}
	return filepath.Join(s.dir, stepsDirName, app, id)
}

func plainName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.HasPrefix(n, ".") && !strings.ContainsAny(n, `/\:`) && filepath.IsLocal(n)
}

// makeStepFolder makes the apply's step folder from the staged payload,
// whole or not at all: built in the staging folder (which recovery
// empties), then renamed into place. A step folder of the same bundle is
// kept as it is: a step of an earlier apply of it may still be running there.
func (a *applier) makeStepFolder(staged *stage.Staged, id string) (string, error) {
	final := a.state.stepFolder(a.application(), id)
	if final == "" {
		return "", fmt.Errorf("no step folder for release %q, bundle %q", a.application(), id)
	}
	if fi, err := os.Lstat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	tmp := staged.Root + ".steps"
	os.RemoveAll(tmp)
	if err := linkTree(staged.Root, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("make the step folder: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("make the step folder: %w", err)
	}
	return final, atomicfile.SyncDir(filepath.Dir(final))
}

// linkTree makes dst a copy of the tree src of regular files and
// directories (all a payload holds): each file hard-linked, or copied
// where that fails.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm()|0o700)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file", p)
		case os.Link(p, to) == nil:
			return nil
		}
		return copyFile(p, to, info.Mode().Perm())
	})
}

// copyFile copies a file to a new one of the mode given, synced.
func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// stepFolders says where the steps of a run run.
type stepFolders struct {
	a   *applier
	own string // the apply's step folder
}

// stepFolders finds (or, for a recovery, makes) the apply's step folder.
// Without one the steps run in the staging folder, as a last resort.
func (a *applier) stepFolders(vr *verify.Result, staged *stage.Staged) *stepFolders {
	f := &stepFolders{a: a, own: a.stepDir}
	if f.own == "" && staged != nil {
		dir, err := a.makeStepFolder(staged, vr.Statement.Predicate.BundleID)
		if err != nil {
			fmt.Fprintf(a.o.Stderr, "airlock: warning: the steps run in the staging folder: %s\n", printable.String(err.Error()))
			dir = staged.Root
		}
		f.own = dir
	}
	return f
}

// dirs is the working directory of a step and the folder of its script:
// the apply's step folder, and after a rollback (afterFailure) the
// previous release's as the working directory.
func (f *stepFolders) dirs(afterFailure bool) (dir, scripts string) {
	if afterFailure {
		if prev := f.a.previousFolder(); prev != "" {
			return prev, f.own
		}
	}
	return f.own, f.own
}

// previousFolder is the folder a back-out step runs in: the step folder
// of the release the first target of this apply was switched back to, or
// where that release has none (it was installed by an earlier airlock),
// the release's directory; "" when no switch was reverted to a release.
func (a *applier) previousFolder() string {
	for _, sw := range a.j.Switches {
		if !sw.Reverted || sw.Previous == "" {
			continue
		}
		name := filepath.Base(filepath.FromSlash(sw.Previous))
		if rec, err := a.state.target(sw.To); err == nil && rec != nil {
			for _, r := range rec.Releases {
				if r.Name != name {
					continue
				}
				if dir := a.state.stepFolder(r.Application, r.BundleID); dir != "" {
					if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
						return dir
					}
				}
			}
		}
		dir := filepath.Join(sw.To, filepath.FromSlash(sw.Previous))
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
	}
	return ""
}

// pruneStepFolders removes the application's step folders but those of
// the bundle just applied and of the bundles whose releases it keeps.
func (a *applier) pruneStepFolders() {
	app := a.application()
	keep := map[string]bool{a.j.Receipt.Bundle.ID: true}
	recs, err := a.state.targets()
	if err != nil {
		return
	}
	for _, rec := range recs {
		for _, r := range rec.Releases {
			if r.Application == app {
				keep[r.BundleID] = true
			}
		}
	}
	if a.state.stepFolder(app, "x") == "" {
		return
	}
	dir := filepath.Join(a.state.dir, stepsDirName, app)
	ents, err := os.ReadDir(dir)
	var errs []error
	for _, e := range ents {
		if !keep[e.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(append(errs, ignoreMissing(err))...); err != nil {
		fmt.Fprintf(a.o.Stderr, "airlock: warning: removing old step folders: %s\n", printable.String(err.Error()))
	}
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
