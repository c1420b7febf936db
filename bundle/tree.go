package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
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
	src   string // path in the release FS ("" for directories made up by the builder)
	field string // the field of airlock.yaml that added it
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
	w := &walker{fsys: fsys, dirs: map[string]bool{}, t: &tree{files: map[string][]packageFile{}}}
	for i, p := range r.Packages {
		w.pkg(indexField("packages", i)+".path", p)
	}
	for i, s := range r.Steps {
		if s.Script != "" {
			w.script(indexField("steps", i)+".script", s.Script)
		}
	}
	w.t.entries = w.sorted()
	w.collisions(w.t.entries)
	return w.t, w.problems
}

// The entries are collected in a slice and sorted once: a release of many
// files is held once, as the list the build reads, not also in maps.
type walker struct {
	fsys     fs.FS
	t        *tree
	out      []source        // every entry, in the order added
	dirs     map[string]bool // payload paths of the directories added
	problems []treeProblem
}

// sorted sorts the entries by path and drops repeats: a file added twice
// from the same source (a script two steps run) is one entry; a path taken
// by two different sources is a problem, reported at the later one.
func (w *walker) sorted() []source {
	sort.SliceStable(w.out, func(i, j int) bool { return w.out[i].Path < w.out[j].Path })
	out := w.out[:0]
	for _, e := range w.out {
		if n := len(out); n > 0 && out[n-1].Path == e.Path {
			if prev := out[n-1]; prev.src != e.src || prev.Type != e.Type {
				w.problem(e.field, "%s: payload path %s is already taken by %s", quoteShort(e.src), e.Path, quoteShort(prev.src))
			}
			continue
		}
		out = append(out, e)
	}
	w.out = nil
	return slices.Clip(out)
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

// script adds a step script at its own path in the payload.
func (w *walker) script(field, rel string) {
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
		w.problem(field, "script path %s is reserved in the payload (packages/ and %s); move the script", quoteShort(p), VariablesEntry)
		return
	}
	w.addFile(field, p, rel, info)
}

// addDir adds a directory and its parents.
func (w *walker) addDir(field, p string) {
	for d := p; d != "."; d = path.Dir(d) {
		if w.dirs[d] {
			return
		}
		if err := CheckPath(d); err != nil {
			w.problem(field, "%v", err)
			return
		}
		w.dirs[d] = true
		w.out = append(w.out, source{File: File{Path: d, Type: TypeDir, Mode: 0o755}, field: field})
	}
}

// addFile adds a regular file; its mode is 0755 when any execute bit is set.
func (w *walker) addFile(field, p, src string, info fs.FileInfo) {
	if err := CheckPath(p); err != nil {
		w.problem(field, "%s: %v", quoteShort(src), err)
		return
	}
	mode := Mode(0o644)
	if info.Mode().Perm()&0o111 != 0 {
		mode = 0o755
	}
	w.addDir(field, path.Dir(p))
	w.out = append(w.out, source{File: File{Path: p, Type: TypeFile, Mode: mode, Size: info.Size()}, src: src, field: field})
}

// collisions reports payload paths that are equal under case folding,
// each at the later path of the two (in path order) and naming the first:
// sorting the fold keys puts colliding paths side by side.
func (w *walker) collisions(entries []source) {
	type folded struct {
		key string
		i   int // index in entries; -1 for variables.json
	}
	keys := make([]folded, 0, len(entries)+1)
	keys = append(keys, folded{foldKey(VariablesEntry), -1})
	for i, e := range entries {
		keys = append(keys, folded{foldKey(e.Path), i})
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].key != keys[b].key {
			return keys[a].key < keys[b].key
		}
		return keys[a].i < keys[b].i
	})
	var clash []folded // i: the later entry; key: the first path
	for k, first := 1, 0; k < len(keys); k++ {
		if keys[k].key != keys[first].key {
			first = k
			continue
		}
		name := VariablesEntry
		if j := keys[first].i; j >= 0 {
			name = entries[j].Path
		}
		clash = append(clash, folded{name, keys[k].i})
	}
	sort.Slice(clash, func(a, b int) bool { return clash[a].i < clash[b].i })
	for _, c := range clash {
		e := entries[c.i]
		w.problem(e.field, "payload paths %s and %s collide on case-insensitive file systems", c.key, e.Path)
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
