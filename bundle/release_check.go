package bundle

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"airlock.dev/airlock/internal/structured"
	"airlock.dev/airlock/internal/subst"
)

// Release checks against the file system: packages, scripts, and the
// #{...} references of commands, targets and substituted files.

// Check validates r against the file system under r.Dir: packages and
// scripts exist inside Dir (symbolic links may not lead outside it);
// packages hold only regular files and directories (no symbolic links);
// payload paths are portable and unique; every #{...} reference in run, to
// and the files that substitute globs match names a variable, a built-in,
// or Steps.<earlier step>.<output>; and every substitute glob matches at
// least one file. What it found is kept for Build.
func (r *Release) Check() error {
	c := &releaseChecker{releaseProblems: releaseProblems{file: r.File}, r: r}
	root, err := os.OpenRoot(cmp.Or(r.Dir, "."))
	if err != nil {
		c.add(r.File, 0, 0, "", "release directory: %v", err)
		return c.err()
	}
	defer root.Close()
	rfs := newReleaseFS(root.FS(), nil)
	defer rfs.Close()
	c.fsys = rfs
	c.names = r.referable()
	t, problems := walkTree(c.fsys, r)
	for _, p := range problems {
		c.at(p.field, "%s", p.msg)
	}
	for i, s := range r.Steps {
		field := indexField("steps", i)
		for _, t := range s.Texts() {
			c.textRefs(i, field+"."+t.Key, t.Text)
		}
		if s.Script != "" && s.Substitute.Script {
			c.fileRefs(i, field+".substitute", packageFile{src: s.Script})
		}
		if files, ok := t.files[s.Deploy]; ok && s.Deploy != "" {
			c.deployGlobs(i, field, s, files)
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	t.files = nil // only the checks above need it; the build keeps the entries
	r.tree = t
	return nil
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
	for _, im := range r.Images {
		for _, what := range ImageBuiltins {
			names[ImageBuiltin(im.Name, what)] = -1
		}
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
	fsys  fs.FS          // the release directory
	names map[string]int // see referable
}

// at records a problem at the field's position in airlock.yaml.
func (c *releaseChecker) at(field, format string, args ...any) {
	p := c.r.pos[field]
	c.add(c.r.File, p.line, p.col, field, format, args...)
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

// textRefs checks the references in a setting of step i (see Step.Texts).
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

// deployGlobs checks that every glob of deploy step i matches a file of
// its package, the references in the files it substitutes, and that the
// files of its structured replacement that are not substituted first
// parse (a substituted one is whole only once its values are in: apply
// parses it then, before the release switch).
func (c *releaseChecker) deployGlobs(step int, field string, s Step, files []packageFile) {
	checked := map[string]bool{}
	for j, glob := range s.Substitute.Globs {
		gfield := indexField(field+".substitute", j)
		c.globMatches(s.Deploy, files, glob, gfield, func(f packageFile) {
			if !checked[f.rel] {
				checked[f.rel] = true
				c.fileRefs(step, gfield, f)
			}
		})
	}
	for j, glob := range s.Structured {
		sfield := indexField(field+".structured", j)
		c.globMatches(s.Deploy, files, glob, sfield, func(f packageFile) {
			if !checked[f.rel] {
				checked[f.rel] = true
				c.structuredParses(sfield, f)
			}
		})
	}
	for j, r := range s.Files {
		c.globMatches(s.Deploy, files, r.Match, indexField(field+".files", j)+".match", nil)
	}
}

// globMatches reports a glob (at field) that matches no file of package
// pkg, and calls visit, if not nil, for every file it matches.
func (c *releaseChecker) globMatches(pkg string, files []packageFile, glob, field string, visit func(f packageFile)) {
	matched := false
	for _, f := range files {
		if !MatchGlob(glob, f.rel) {
			continue
		}
		matched = true
		if visit != nil {
			visit(f)
		}
	}
	if !matched {
		c.at(field, "pattern %s matches no file of package %s", quoteShort(glob), quoteShort(pkg))
	}
}

// fileRefs checks the references in one file that step will substitute.
func (c *releaseChecker) fileRefs(step int, field string, f packageFile) {
	shown := c.shown(f.src)
	src, err := readAtMost(c.fsys, f.src, MaxSubstituteSize)
	switch {
	case err != nil:
		c.add(shown, 0, 0, field, "%v", unwrapPath(err))
		return
	case len(src) > MaxSubstituteSize:
		c.add(shown, 0, 0, field, "file is larger than the %d MiB substitution limit", MaxSubstituteSize>>20)
		return
	}
	c.refs(step, src, func(line, col int, msg string) {
		c.add(shown, line, col, field, "%s", msg)
	})
}

// structuredParses checks that a file of a structured replacement is one
// of the formats it reads and parses as that format.
func (c *releaseChecker) structuredParses(field string, f packageFile) {
	shown := c.shown(f.src)
	src, err := readAtMost(c.fsys, f.src, structured.MaxSize)
	if err != nil {
		c.add(shown, 0, 0, field, "%v", unwrapPath(err))
		return
	}
	if _, err := structured.Replace(f.rel, src, nil); err != nil {
		var pe *structured.ParseError
		if errors.As(err, &pe) {
			c.add(shown, pe.Line, pe.Col, field, "%s", pe.Msg)
			return
		}
		var le *structured.LimitError
		if errors.As(err, &le) {
			c.add(shown, le.Line, 0, field, "%s", le.Reason())
			return
		}
		c.add(shown, 0, 0, field, "%s", strings.TrimPrefix(err.Error(), f.rel+": "))
	}
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
