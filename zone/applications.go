package zone

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/receipt"
)

// Limits of trust.yaml's applications.
const (
	MaxApplications     = 1000
	MaxApplicationRoots = 64
	maxRootLength       = 4096
)

// ApplicationDoc is one application in trust.yaml, keyed by the release
// name: the directories it may deploy into and its own values for the
// variables its bundles declare.
type ApplicationDoc struct {
	Variables map[string]Value `yaml:"variables,omitempty"`
	Roots     []string         `yaml:"roots"`
}

// Application is an application of the zone, checked, with its roots
// cleaned and its fromFile paths made absolute.
type Application struct {
	Name string
	// Roots are the directories its deploy steps may deploy into
	// (absolute, cleaned): a target is one of them or lies below one.
	Roots []string
	// Variables are its values, more specific than the zone's.
	Variables map[string]Value
}

// Application returns the application trust.yaml lists under name, or nil.
func (t *Trust) Application(name string) *Application { return t.Applications[name] }

// Within reports whether target (absolute, cleaned) is one of the
// application's roots or lies below one, by its path: what may lie on
// the way there is for the applier to check.
func (a *Application) Within(target string) (root string, ok bool) {
	for _, r := range a.Roots {
		if Contains(r, target) {
			return r, true
		}
	}
	return "", false
}

// Contains reports whether path (absolute, cleaned) is dir or lies below
// it, by the paths alone.
func Contains(dir, path string) bool {
	if dir == path {
		return true
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// checkApplications checks trust.yaml's applications: release names,
// each with at least one root, absolute, without control characters,
// each given once (after cleaning).
func (d *Document) checkApplications() error {
	if len(d.Applications) > MaxApplications {
		return fmt.Errorf("applications: %d, at most %d", len(d.Applications), MaxApplications)
	}
	for name, app := range d.Applications {
		if !names.Valid(name) {
			return fmt.Errorf("applications: %q: want a release name (%s)", name, names.Want)
		}
		if len(app.Roots) == 0 {
			return fmt.Errorf("applications.%s.roots: list the directories it may deploy into (at least one)", name)
		}
		if len(app.Roots) > MaxApplicationRoots {
			return fmt.Errorf("applications.%s.roots: %d, at most %d", name, len(app.Roots), MaxApplicationRoots)
		}
		seen := map[string]bool{}
		for _, r := range app.Roots {
			switch c := filepath.Clean(r); {
			case !filepath.IsAbs(r):
				return fmt.Errorf("applications.%s.roots: %q is not an absolute path", name, r)
			case len(r) > maxRootLength || strings.ContainsFunc(r, unicode.IsControl):
				return fmt.Errorf("applications.%s.roots: %q: at most %d bytes, no control characters", name, r, maxRootLength)
			case seen[c]:
				return fmt.Errorf("applications.%s.roots: %s is listed twice", name, c)
			default:
				seen[c] = true
			}
		}
	}
	return nil
}

// applications returns the checked applications, fromFile paths resolved
// against dir.
func (d *Document) applications(dir string) map[string]*Application {
	if len(d.Applications) == 0 {
		return nil
	}
	out := make(map[string]*Application, len(d.Applications))
	for name, doc := range d.Applications {
		app := &Application{Name: name}
		for _, r := range doc.Roots {
			app.Roots = append(app.Roots, filepath.Clean(r))
		}
		slices.Sort(app.Roots)
		if len(doc.Variables) > 0 {
			app.Variables = make(map[string]Value, len(doc.Variables))
			for v, val := range doc.Variables {
				app.Variables[v] = val.Resolve(dir)
			}
		}
		out[name] = app
	}
	return out
}

// recordApplications is the recorded policy's list of applications, by
// name, each with its roots.
func (t *Trust) recordApplications() []receipt.PolicyApplication {
	var out []receipt.PolicyApplication
	for _, name := range t.Policy.Applications {
		out = append(out, receipt.PolicyApplication{Name: name, Roots: slices.Clone(t.Applications[name].Roots)})
	}
	return out
}

// diffApplications lists how the applications of next differ from those
// of prev. The first applications of a zone that listed none are its
// setup: before, any release could deploy anywhere. After that, an
// application added, a root added or the list removed lets a release
// deploy where it could not before (weakens).
func diffApplications(prev, next *receipt.Policy, add func(kind, format string, a ...any)) {
	find := func(apps []receipt.PolicyApplication, name string) *receipt.PolicyApplication {
		i := slices.IndexFunc(apps, func(a receipt.PolicyApplication) bool { return a.Name == name })
		if i < 0 {
			return nil
		}
		return &apps[i]
	}
	switch {
	case len(prev.Applications) == 0 && len(next.Applications) > 0:
		for _, a := range next.Applications {
			add(DiffApplicationFirst, "application %s (roots %s) listed: only listed applications deploy, within their roots", a.Name, strings.Join(a.Roots, ", "))
		}
		return
	case len(prev.Applications) > 0 && len(next.Applications) == 0:
		add(DiffApplicationsUnlisted, "no application is listed any more: any release may deploy anywhere")
		return
	}
	for _, a := range next.Applications {
		p := find(prev.Applications, a.Name)
		if p == nil {
			add(DiffApplicationAdded, "application %s (roots %s) added", a.Name, strings.Join(a.Roots, ", "))
			continue
		}
		for _, r := range a.Roots {
			if !slices.Contains(p.Roots, r) {
				add(DiffApplicationRootAdded, "application %s: root %s added", a.Name, r)
			}
		}
		for _, r := range p.Roots {
			if !slices.Contains(a.Roots, r) {
				add(DiffApplicationRootRemoved, "application %s: root %s removed", a.Name, r)
			}
		}
	}
	for _, a := range prev.Applications {
		if find(next.Applications, a.Name) == nil {
			add(DiffApplicationRemoved, "application %s removed", a.Name)
		}
	}
}
