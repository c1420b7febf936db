package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// Deploy targets and the applications they belong to. A zone runs many
// applications (releases by name); each deploys into targets of its own:
//
//   - within the roots trust.yaml gives it (applications.NAME.roots), if
//     it lists the application: a target is a root or lies below one,
//     reached through real directories (no symbolic link on the way from
//     the root);
//   - never into a target that belongs to another application — the one
//     whose apply first succeeded there — nor inside or around one.
//
// Both are checked for every deploy step before any step runs (the
// apply is refused: reasons target and target-owned), and again by the
// deploy step itself, for a target that depends on what earlier steps
// published (the step fails then, and the apply rolls back).

// targetError is a deploy target an application may not deploy into.
type targetError struct {
	reason receipt.Reason // target or target-owned
	msg    string
}

func (e *targetError) Error() string { return e.msg }

// application is the application of the bundle being applied: its
// release name.
func (a *applier) application() string { return a.j.Receipt.Bundle.Name }

// checkTargets refuses, before anything runs, a deploy step whose
// target the application may not deploy into. Targets that depend on a
// step's outputs are checked when their step runs.
func (a *applier) checkTargets(vr *verify.Result, vars *variables) *targetError {
	for _, s := range vr.Manifest.Steps {
		if s.Kind() != bundle.KindDeploy {
			continue
		}
		to, err := vars.expand(s.To)
		if err != nil || !filepath.IsAbs(to) {
			continue // a step output, or an error the step reports
		}
		if err := a.targetAllowed(filepath.Clean(to)); err != nil {
			err.msg = fmt.Sprintf("deploy step %q: %s", s.Name, err.msg)
			return err
		}
	}
	return nil
}

// targetAllowed checks that the application may deploy into to
// (absolute, cleaned): within its roots, and into no target of another
// application.
func (a *applier) targetAllowed(to string) *targetError {
	app := a.application()
	if def := a.o.Trust.Application(app); def != nil {
		root, ok := def.Within(to)
		if !ok {
			return &targetError{receipt.Reason(receipt.CheckTarget), fmt.Sprintf("deploy target %s is outside the roots of application %s (%s)",
				to, app, strings.Join(def.Roots, ", "))}
		}
		if link := linkBelow(root, to); link != "" {
			return &targetError{receipt.Reason(receipt.CheckTarget), fmt.Sprintf("deploy target %s: %s is a symbolic link: within the roots of application %s a target is reached through real directories",
				to, link, app)}
		}
	}
	recs, err := a.state.targets()
	if err != nil {
		return &targetError{receipt.ReasonTargetOwned, fmt.Sprintf("deploy target %s: cannot tell whom it belongs to: %v", to, err)}
	}
	for _, rec := range recs {
		owner := rec.Application
		switch {
		case owner == "" || owner == app:
		case rec.To == to:
			return &targetError{receipt.ReasonTargetOwned, fmt.Sprintf("deploy target %s belongs to application %s (the first to deploy there)", to, owner)}
		case zone.Contains(rec.To, to):
			return &targetError{receipt.ReasonTargetOwned, fmt.Sprintf("deploy target %s lies inside %s, which belongs to application %s", to, rec.To, owner)}
		case zone.Contains(to, rec.To):
			return &targetError{receipt.ReasonTargetOwned, fmt.Sprintf("deploy target %s holds %s, which belongs to application %s", to, rec.To, owner)}
		}
	}
	return nil
}

// linkBelow returns the first existing path below root, up to and
// including to, that is a symbolic link (or a junction), or "".
func linkBelow(root, to string) string {
	rel, err := filepath.Rel(root, to)
	if err != nil || rel == "." {
		return ""
	}
	p := root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return ""
		}
		if err == nil && fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			return p
		}
	}
	return ""
}

// claim gives the target of rec to the application of this apply, which
// succeeded there, if it belongs to none yet. A target recorded before
// owners were has releases of no known application: each is attributed
// by the receipt of the apply that installed it (which names its
// bundle), so that pruning still removes only an application's own;
// one whose receipt cannot be read stays unattributed, and is never
// pruned. It reports whether an existing target was adopted that way.
func (a *applier) claim(rec *targetRecord) bool {
	if rec.Application != "" {
		return false
	}
	rec.Application = a.application()
	adopted := false
	for i := range rec.Releases {
		if r := &rec.Releases[i]; r.Application == "" {
			adopted = true
			r.Application = a.installedBy(r.Receipt)
		}
	}
	return adopted
}

// installedBy is the application of the verified receipt seq of this
// host's chain, or "" when it cannot be read.
func (a *applier) installedBy(seq uint64) string {
	path, ok := a.chain.Find(seq)
	if !ok {
		return ""
	}
	r, _, err := a.chain.Read(path)
	if err != nil || !r.Predicate().Bundle.Verified {
		return ""
	}
	return r.Predicate().Bundle.Name
}

// adopted says in the receipt, and to the operator, that this apply's
// application took a target recorded before owners were.
func (a *applier) adopted(to string, rec *targetRecord) {
	for i := range a.j.Receipt.Releases {
		if r := &a.j.Receipt.Releases[i]; r.Target == to {
			r.Adopted = true
		}
	}
	if r := a.j.Receipt.Release; r != nil && r.Target == to {
		r.Adopted = true
	}
	var others []string
	for _, r := range rec.Releases {
		if r.Application != rec.Application {
			others = append(others, fmt.Sprintf("%s (%s)", r.Name, orNone(r.Application)))
		}
	}
	msg := fmt.Sprintf("deploy target %s had no owner recorded: it now belongs to application %s", to, rec.Application)
	if len(others) > 0 {
		msg += fmt.Sprintf("; releases of other applications there are left alone, never pruned: %s", strings.Join(others, ", "))
	}
	fmt.Fprintln(a.o.Stdout, "airlock: "+printable.String(msg))
}
