package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The build side reads a release directory in one place: walkTree visits
// what airlock.yaml names — every package (a file or a folder) and every
// step script — through an fs.FS, once. The release check, the payload's
// entry list and the build all use what it finds, and the build reads file
// content through the same kind of FS (an os.Root's, for a folder), so a
// package from another source (an archive) is another fs.FS, not another
// walker.
//
// The rules: paths named in airlock.yaml may pass through symbolic links
// that stay inside the release directory (the os.Root refuses the others);
// inside a package folder only regular files and directories are carried;
// every payload path is portable (CheckPath), unique, and does not collide
// with another under case folding.

// source is one payload entry and where its content comes from.
type source struct {
	File
	src string // path in the release FS ("" for directories made up by the builder)
}

// packageFile is one regular file of a package.
type packageFile struct {
	rel string // slash path relative to the package root
	src string // path in the release FS
}

// tree is what one walk of a release found.
type tree struct {
	entries []source                 // payload entries by path, parents first
	pkgs    []PackageRef             // in release order
	files   map[string][]packageFile // package name → its regular files (absent: the package is unusable)
}

// treeProblem is something the walk refuses, for the field that named it.
type treeProblem struct {
	field string // packages[i].path or steps[i].script
	msg   string
}

// walkTree walks what r names in fsys and returns the payload it makes,
// with every problem found (the tree is usable only when there are none).
func walkTree(fsys fs.FS, r *Release) (*tree, []treeProblem) {
	w := &walker{fsys: fsys, byPath: map[string]source{}, t: &tree{files: map[string][]packageFile{}}}
	for i, p := range r.Packages {
		w.pkg(indexField("packages", i)+".path", p)
	}
	for i, s := range r.Steps {
		if s.Script != "" {
			w.loose(indexField("steps", i)+".script", "script", s.Script)
		}
	}
	for i, e := range r.Change.TestEvidence {
		w.loose(indexField("change.testEvidence", i), "test evidence", e.Path)
	}
	out := make([]source, 0, len(w.byPath))
	for _, s := range w.byPath {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	w.collisions(out)
	w.t.entries = out
	return w.t, w.problems
}

type walker struct {
	fsys     fs.FS
	t        *tree
	byPath   map[string]source
	owner    map[string]string // payload path → field that added it
	problems []treeProblem
}

func (w *walker) problem(field, format string, args ...any) {
	w.problems = append(w.problems, treeProblem{field: field, msg: fmt.Sprintf(format, args...)})
}

// stat follows the path as the build will, explaining a failure.
func (w *walker) stat(field, name string) (fs.FileInfo, bool) {
	info, err := fs.Stat(w.fsys, name)
	switch {
	case err == nil:
		return info, true
	case errors.Is(err, fs.ErrNotExist):
		w.problem(field, "%s does not exist", quoteShort(name))
	case w.throughLink(name):
		w.problem(field, "%s leads outside the release directory through a symbolic link", quoteShort(name))
	default:
		w.problem(field, "%s: %v", quoteShort(name), unwrapPath(err))
	}
	return nil, false
}

// throughLink reports whether a prefix of name is a symbolic link.
func (w *walker) throughLink(name string) bool {
	for p := name; p != "." && p != "/"; p = path.Dir(p) {
		if info, err := fs.Lstat(w.fsys, p); err == nil && info.Mode()&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// pkg adds a package: a regular file, or a folder walked without following
// links.
func (w *walker) pkg(field string, p Package) {
	root := "packages/" + p.Name
	ref := PackageRef{Name: p.Name, Root: root}
	defer func() { w.t.pkgs = append(w.t.pkgs, ref) }()
	if _, problem := cleanRelPath(p.Path); problem != "" {
		w.problem(field, "%s %s", quoteShort(p.Path), problem)
		return
	}
	info, ok := w.stat(field, p.Path)
	if !ok {
		return
	}
	w.t.files[p.Name] = []packageFile{}
	w.addDir(field, root)
	add := func(rel, src string, info fs.FileInfo) {
		ref.Files++
		ref.Size += info.Size()
		w.t.files[p.Name] = append(w.t.files[p.Name], packageFile{rel: rel, src: src})
		w.addFile(field, root+"/"+rel, src, info)
	}
	switch {
	case info.Mode().IsRegular():
		add(path.Base(p.Path), p.Path, info)
		return
	case !info.IsDir():
		w.problem(field, "%s is a %s: a package is a regular file or a directory", quoteShort(p.Path), FileKind(info.Mode()))
		return
	}
	err := fs.WalkDir(w.fsys, p.Path, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			w.problem(field, "%s: %v", quoteShort(name), unwrapPath(err))
			return nil
		}
		if name == p.Path {
			return nil
		}
		rel := strings.TrimPrefix(name, p.Path+"/")
		switch {
		case d.IsDir():
			w.addDir(field, root+"/"+rel)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				w.problem(field, "%s: %v", quoteShort(name), unwrapPath(err))
				return nil
			}
			add(rel, name, info)
		default:
			w.problem(field, "%s is a %s: packages hold only regular files and directories", quoteShort(name), FileKind(d.Type()))
		}
		return nil
	})
	if err != nil {
		w.problem(field, "%s: %v", quoteShort(p.Path), unwrapPath(err))
	}
}

// loose adds a file named in airlock.yaml outside the packages (a step
// script, a test evidence file) at its own path in the payload.
func (w *walker) loose(field, what, rel string) {
	if _, problem := cleanRelPath(rel); problem != "" {
		w.problem(field, "%s %s", quoteShort(rel), problem)
		return
	}
	info, ok := w.stat(field, rel)
	if !ok {
		return
	}
	if !info.Mode().IsRegular() {
		w.problem(field, "%s is not a regular file", quoteShort(rel))
		return
	}
	p := ScriptPath(rel)
	if p == "packages" || strings.HasPrefix(p, "packages/") || p == VariablesEntry {
		w.problem(field, "%s path %s is reserved in the payload (packages/ and %s); move the file", what, quoteShort(p), VariablesEntry)
		return
	}
	w.addFile(field, p, rel, info)
}

// addDir adds a directory and its parents.
func (w *walker) addDir(field, p string) {
	for d := p; d != "."; d = path.Dir(d) {
		if _, ok := w.byPath[d]; ok {
			return
		}
		if err := CheckPath(d); err != nil {
			w.problem(field, "%v", err)
			return
		}
		w.byPath[d] = source{File: File{Path: d, Type: TypeDir, Mode: 0o755}}
		w.own(d, field)
	}
}

// addFile adds a regular file; its mode is 0755 when any execute bit is set.
func (w *walker) addFile(field, p, src string, info fs.FileInfo) {
	if err := CheckPath(p); err != nil {
		w.problem(field, "%s: %v", quoteShort(src), err)
		return
	}
	if old, dup := w.byPath[p]; dup {
		if old.src != src {
			w.problem(field, "%s: payload path %s is already taken by %s", quoteShort(src), p, quoteShort(old.src))
		}
		return
	}
	mode := Mode(0o644)
	if info.Mode().Perm()&0o111 != 0 {
		mode = 0o755
	}
	w.addDir(field, path.Dir(p))
	w.byPath[p] = source{File: File{Path: p, Type: TypeFile, Mode: mode, Size: info.Size()}, src: src}
	w.own(p, field)
}

// own records which field of airlock.yaml added payload path p.
func (w *walker) own(p, field string) {
	if w.owner == nil {
		w.owner = map[string]string{}
	}
	w.owner[p] = field
}

// collisions reports payload paths that are equal under case folding.
func (w *walker) collisions(entries []source) {
	seen := map[string]string{foldKey(VariablesEntry): VariablesEntry}
	for _, e := range entries {
		k := foldKey(e.Path)
		if other, ok := seen[k]; ok {
			w.problem(w.owner[e.Path], "payload paths %s and %s collide on case-insensitive file systems", other, e.Path)
			continue
		}
		seen[k] = e.Path
	}
}

// ScriptPath is the payload path of a step script given relative to the
// release directory: the same path. Packages live under packages/, so a
// script there is refused.
func ScriptPath(rel string) string {
	return path.Clean(filepath.ToSlash(rel))
}

// readAtMost reads name from fsys, or its first limit+1 bytes when it is
// larger.
func readAtMost(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}
