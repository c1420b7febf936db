package bundle

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"airlock.dev/airlock/internal/subst"
)

// Release checks against the file system: packages, scripts, and the
// #{...} references of commands, targets and substituted files.

// Check validates r against the file system under r.Dir: packages and
// scripts exist inside Dir (symbolic links may not lead outside it);
// packages hold only regular files and directories (no symbolic links);
// every #{...} reference in run, to and the files that substitute globs
// match names a variable, a built-in, or Steps.<earlier step>.<output>;
// and every substitute glob matches at least one file.
func (r *Release) Check() error {
	c := &releaseChecker{releaseProblems: releaseProblems{file: r.File}, r: r}
	root, err := filepath.Abs(cmp.Or(r.Dir, "."))
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		c.add(r.File, 0, 0, "", "release directory: %v", err)
		return c.err()
	}
	c.root = root
	c.names = r.referable()
	pkgs := make(map[string]*packageFiles, len(r.Packages))
	for i, p := range r.Packages {
		pkgs[p.Name] = c.pkg(indexField("packages", i)+".path", p)
	}
	for i, s := range r.Steps {
		field := indexField("steps", i)
		if s.Script != "" {
			c.script(field+".script", s.Script)
		}
		c.textRefs(i, field+".run", s.Run)
		c.textRefs(i, field+".to", s.To)
		if s.Deploy != "" {
			c.substitute(i, field, s, pkgs[s.Deploy])
		}
	}
	return c.err()
}

// referable returns the names references may use: variables, built-ins
// and step names mapped to their index (as "Steps.<name>").
func (r *Release) referable() map[string]int {
	names := make(map[string]int, len(r.Variables)+len(Builtins)+len(r.Steps))
	for _, v := range r.Variables {
		names[v.Name] = -1
	}
	for _, b := range Builtins {
		names[string(b)] = -1
	}
	for i, s := range r.Steps {
		if _, dup := names["Steps."+s.Name]; !dup {
			names["Steps."+s.Name] = i
		}
	}
	return names
}

// releaseChecker holds the state of one Check.
type releaseChecker struct {
	releaseProblems
	r     *Release
	root  string         // r.Dir with symbolic links resolved
	names map[string]int // see referable
}

// packageFiles are the regular files of a package.
type packageFiles struct {
	files []packageFile
}

// packageFile is one regular file of a package.
type packageFile struct {
	rel   string // slash path relative to the package root
	real  string // path to read it from
	shown string // path to name it by in errors
}

// at records a problem at the field's position in airlock.yaml.
func (c *releaseChecker) at(field, format string, args ...any) {
	p := c.r.pos[field]
	c.add(c.r.File, p.line, p.col, field, format, args...)
}

// resolve returns the real path of rel (relative to the release directory)
// after checking that it exists and stays inside the directory.
func (c *releaseChecker) resolve(field, rel string) (string, bool) {
	if _, problem := cleanRelPath(rel); problem != "" {
		c.at(field, "%s %s", quoteShort(rel), problem)
		return "", false
	}
	real, err := filepath.EvalSymlinks(filepath.Join(c.root, filepath.FromSlash(rel)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.at(field, "%s does not exist", quoteShort(rel))
	case err != nil:
		c.at(field, "%s: %v", quoteShort(rel), err)
	case !isWithin(c.root, real):
		c.at(field, "%s leads outside the release directory through a symbolic link", quoteShort(rel))
	default:
		return real, true
	}
	return "", false
}

// isWithin reports whether path p is dir or inside it.
func isWithin(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// shown returns rel (slash-separated, relative to the release directory)
// as a path relative to where airlock.yaml was named.
func (c *releaseChecker) shown(rel string) string {
	base := c.r.Dir
	if c.r.File != "" {
		base = filepath.Dir(c.r.File)
	}
	return filepath.Join(base, filepath.FromSlash(rel))
}

// pkg checks a package and lists its regular files.
func (c *releaseChecker) pkg(field string, p Package) *packageFiles {
	real, ok := c.resolve(field, p.Path)
	if !ok {
		return nil
	}
	info, err := os.Lstat(real)
	switch {
	case err != nil:
		c.at(field, "%s: %v", quoteShort(p.Path), err)
	case info.Mode().IsRegular():
		return &packageFiles{files: []packageFile{{rel: path.Base(p.Path), real: real, shown: c.shown(p.Path)}}}
	case info.IsDir():
		return c.walk(field, p, real)
	default:
		c.at(field, "%s is %s: a package is a regular file or a directory", quoteShort(p.Path), "a "+FileKind(info.Mode()))
	}
	return nil
}

// walk lists the regular files of a package directory, reporting anything
// that is neither a regular file nor a directory.
func (c *releaseChecker) walk(field string, p Package, real string) *packageFiles {
	pf := &packageFiles{}
	walkErr := filepath.WalkDir(real, func(name string, e fs.DirEntry, err error) error {
		rel, relErr := filepath.Rel(real, name)
		if relErr != nil {
			return relErr
		}
		rel = filepath.ToSlash(rel)
		inPkg := path.Join(p.Path, rel)
		switch {
		case err != nil:
			c.at(field, "%s: %v", quoteShort(inPkg), err)
		case e.Type().IsRegular():
			pf.files = append(pf.files, packageFile{rel: rel, real: name, shown: c.shown(inPkg)})
		case !e.IsDir():
			c.at(field, "%s is %s: packages hold only regular files and directories", quoteShort(inPkg), "a "+FileKind(e.Type()))
		}
		return nil
	})
	if walkErr != nil {
		c.at(field, "%s: %v", quoteShort(p.Path), walkErr)
	}
	return pf
}

// script checks that a step's script is a regular file inside the directory.
func (c *releaseChecker) script(field, rel string) {
	real, ok := c.resolve(field, rel)
	if !ok {
		return
	}
	info, err := os.Stat(real)
	switch {
	case err != nil:
		c.at(field, "%s: %v", quoteShort(rel), err)
	case !info.Mode().IsRegular():
		c.at(field, "%s is not a regular file", quoteShort(rel))
	}
}

// textRefs checks the references in a run or to value of step i.
func (c *releaseChecker) textRefs(step int, field, text string) {
	if !strings.Contains(text, "#{") {
		return
	}
	p := c.r.pos[field]
	c.refs(step, []byte(text), func(line, col int, msg string) {
		if p.text > 0 && line == 1 {
			c.add(c.r.File, p.line, p.text+col-1, field, "%s", msg)
			return
		}
		c.add(c.r.File, p.line, p.col, field, "%s (at %d:%d of the value)", msg, line, col)
	})
}

// refs calls report for the syntax error or for each reference in text
// that step may not use, with its line and column in text.
func (c *releaseChecker) refs(step int, text []byte, report func(line, col int, msg string)) {
	refs, err := subst.Refs(text)
	var se *subst.SyntaxError
	if errors.As(err, &se) {
		report(se.Line, se.Col, se.Msg)
		return
	}
	for _, ref := range refs {
		if problem := c.refProblem(ref.Name, step); problem != "" {
			report(ref.Line, ref.Col, problem)
		}
	}
}

// substitute checks the substitute globs of deploy step i and the
// references in the files they match.
func (c *releaseChecker) substitute(step int, field string, s Step, pf *packageFiles) {
	if pf == nil {
		return // the package's own problem has been reported
	}
	checked := map[string]bool{}
	for j, glob := range s.Substitute {
		gfield := indexField(field+".substitute", j)
		matched := false
		for _, f := range pf.files {
			if ok, _ := path.Match(glob, f.rel); !ok {
				continue
			}
			matched = true
			if !checked[f.rel] {
				checked[f.rel] = true
				c.fileRefs(step, gfield, f)
			}
		}
		if !matched {
			c.at(gfield, "pattern %s matches no file of package %s", quoteShort(glob), quoteShort(s.Deploy))
		}
	}
}

// fileRefs checks the references in one file that step will substitute.
func (c *releaseChecker) fileRefs(step int, field string, f packageFile) {
	src, err := readFileAtMost(f.real, MaxSubstituteSize)
	switch {
	case err != nil:
		c.add(f.shown, 0, 0, field, "%v", err)
		return
	case len(src) > MaxSubstituteSize:
		c.add(f.shown, 0, 0, field, "file is larger than the %d MiB substitution limit", MaxSubstituteSize>>20)
		return
	}
	c.refs(step, src, func(line, col int, msg string) {
		c.add(f.shown, line, col, field, "%s", msg)
	})
}

// refProblem returns why step may not use the reference #{name}, or "".
func (c *releaseChecker) refProblem(name string, step int) string {
	if i, ok := c.names[name]; ok && i < 0 {
		return ""
	}
	rest, isStep := strings.CutPrefix(name, "Steps.")
	if !isStep {
		return c.unresolved(name)
	}
	stepName, _, hasOutput := strings.Cut(rest, ".")
	i, ok := c.names["Steps."+stepName]
	switch {
	case !ok:
		return fmt.Sprintf("reference #{%s} names no step %q", name, stepName)
	case !hasOutput:
		return fmt.Sprintf("reference #{%s} names no output (want #{Steps.<step>.<output>})", name)
	case i == step:
		return fmt.Sprintf("reference #{%s} names this step's own output (only earlier steps' outputs can be used)", name)
	case i > step:
		return fmt.Sprintf("reference #{%s} names step %q, which runs later (only earlier steps' outputs can be used)", name, stepName)
	}
	return ""
}

// unresolved explains an unknown name, suggesting a close one.
func (c *releaseChecker) unresolved(name string) string {
	known := make([]string, 0, len(c.names))
	for n, i := range c.names {
		if i < 0 {
			known = append(known, n)
		}
	}
	sort.Strings(known)
	if s := suggestName(name, known); s != "" {
		return fmt.Sprintf("unresolved reference #{%s} (did you mean #{%s}?)", name, s)
	}
	return fmt.Sprintf("unresolved reference #{%s}: not a declared variable, a built-in or an earlier step's output", name)
}
