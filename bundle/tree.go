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
	src     string      // path in the release FS ("" for directories made up by the builder)
	archive *ArchiveRef // the archive package src is in, if any
	staged  fs.FS       // the folder of staged images src is in, if any
	digest  string      // the SHA-256 the content must have ("" when unknown)
	field   string      // the field of airlock.yaml that added it
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
	rfs, ok := fsys.(*releaseFS)
	if !ok {
		rfs = newReleaseFS(fsys, nil)
		defer rfs.Close()
	}
	w := &walker{fsys: rfs, dirs: map[string]bool{}, t: &tree{files: map[string][]packageFile{}}}
	for i, p := range r.Packages {
		w.pkg(i, p)
	}
	for i, im := range r.Images {
		w.image(i, im)
	}
	for i, s := range r.Steps {
		if s.Script != "" {
			w.loose(indexField("steps", i)+".script", "script", s.Script)
		}
	}
	for i, e := range r.Change.TestEvidence {
		w.loose(indexField("change.testEvidence", i), "test evidence", e.Path)
	}
	w.t.entries = w.sorted()
	w.collisions(w.t.entries)
	return w.t, w.problems
}

// The entries are collected in a slice and sorted once: a release of many
// files is held once, as the list the build reads, not also in maps.
type walker struct {
	fsys     *releaseFS
	archive  *ArchiveRef // the archive package being walked, if any
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

// pkg adds package i: its payload folder, and its content as its input
// kind reads it.
func (w *walker) pkg(i int, p Package) {
	ref := PackageRef{Name: p.Name, Root: "packages/" + p.Name}
	defer func() { w.t.pkgs = append(w.t.pkgs, ref) }()
	kind := inputKindOf(p.Kind)
	if kind == nil {
		w.problem(indexField("packages", i), "unknown input kind %q", p.Kind)
		return
	}
	field := kind.field(i)
	if _, problem := cleanRelPath(p.Source); problem != "" {
		w.problem(field, "%s %s", quoteShort(p.Source), problem)
		return
	}
	if _, ok := w.stat(field, p.Source); ok {
		kind.walk(w, field, p, &ref)
	}
}

// files adds the files of package p: a regular file, or a folder walked
// without following links, at p.Source in the release FS (where an archive
// is mounted as the folder it holds).
func (w *walker) files(field string, p Package, ref *PackageRef) {
	dir, root := p.Source, ref.Root
	info, ok := w.stat(field, dir)
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
		add(path.Base(dir), dir, info)
		return
	case !info.IsDir():
		w.problem(field, "%s is a %s: a package is a regular file or a directory", quoteShort(dir), FileKind(info.Mode()))
		return
	}
	err := fs.WalkDir(w.fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			w.problem(field, "%s: %v", quoteShort(name), unwrapPath(err))
			return nil
		}
		if name == dir {
			return nil
		}
		rel := strings.TrimPrefix(name, dir+"/")
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
		w.problem(field, "%s: %v", quoteShort(dir), unwrapPath(err))
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
	if p == "packages" || strings.HasPrefix(p, "packages/") || p == ImagesRoot || strings.HasPrefix(p, ImagesRoot+"/") || p == VariablesEntry {
		w.problem(field, "%s path %s is reserved in the payload (packages/, %s/ and %s); move the file", what, quoteShort(p), ImagesRoot, VariablesEntry)
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
	w.out = append(w.out, source{File: File{Path: p, Type: TypeFile, Mode: mode, Size: info.Size()}, src: src, archive: w.archive, field: field})
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

// releaseFS is the release directory as the build reads it: its files,
// and the files of each archive package under the archive's own path. The
// walker walks an archive as the folder it holds, and the build reads its
// files at paths such as dist/app.zip/config/app.json (an archive is a
// file, so nothing else can be under its path).
type releaseFS struct {
	dir    fs.FS
	limits archiveLimits
	// mounted are the open archives by path; want are archives that Open
	// mounts when first used, with the SHA-256 each must still have.
	mounted map[string]*archiveFS
	want    map[string]string
}

// newReleaseFS returns the release directory dir, with the archives of
// want (path → SHA-256) mounted when they are first used.
func newReleaseFS(dir fs.FS, want map[string]string) *releaseFS {
	return &releaseFS{dir: dir, limits: defaultArchiveLimits, mounted: map[string]*archiveFS{}, want: want}
}

// archivesOf returns the archives that entries are read from, path → SHA-256.
func archivesOf(entries []source) map[string]string {
	out := map[string]string{}
	for _, e := range entries {
		if e.archive != nil {
			out[e.archive.Name] = e.archive.SHA256
		}
	}
	return out
}

// mount opens archive name and shows its files under name.
func (r *releaseFS) mount(name string) (*archiveFS, error) {
	if a, ok := r.mounted[name]; ok {
		return a, nil
	}
	a, err := openArchive(r.dir, name, r.limits)
	if err != nil {
		return nil, err
	}
	if sum, ok := r.want[name]; ok && sum != a.ref.SHA256 {
		a.Close()
		return nil, errors.New("changed since the release was checked")
	}
	r.mounted[name] = a
	return a, nil
}

// Close closes every mounted archive.
func (r *releaseFS) Close() error {
	var errs []error
	for name, a := range r.mounted {
		errs = append(errs, a.Close())
		delete(r.mounted, name)
	}
	return errors.Join(errs...)
}

// route returns the file system that holds name, and name in it.
func (r *releaseFS) route(op, name string) (fs.FS, string, error) {
	for archive := range r.archives() {
		rest, ok := strings.CutPrefix(name, archive)
		if !ok || rest != "" && rest[0] != '/' {
			continue
		}
		a, err := r.mount(archive)
		if err != nil {
			return nil, "", &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("archive %s: %w", archive, err)}
		}
		if rest == "" {
			return a, ".", nil
		}
		return a, rest[1:], nil
	}
	return r.dir, name, nil
}

// archives yields the paths of the mounted and wanted archives.
func (r *releaseFS) archives() func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for name := range r.mounted {
			if !yield(name) {
				return
			}
		}
		for name := range r.want {
			if _, ok := r.mounted[name]; !ok && !yield(name) {
				return
			}
		}
	}
}

func (r *releaseFS) Open(name string) (fs.File, error) {
	fsys, rel, err := r.route("open", name)
	if err != nil {
		return nil, err
	}
	return fsys.Open(rel)
}

func (r *releaseFS) Stat(name string) (fs.FileInfo, error) {
	fsys, rel, err := r.route("stat", name)
	if err != nil {
		return nil, err
	}
	return fs.Stat(fsys, rel)
}

func (r *releaseFS) ReadDir(name string) ([]fs.DirEntry, error) {
	fsys, rel, err := r.route("readdir", name)
	if err != nil {
		return nil, err
	}
	return fs.ReadDir(fsys, rel)
}

// Lstat does not follow a final symbolic link of the release directory;
// an archive has none.
func (r *releaseFS) Lstat(name string) (fs.FileInfo, error) {
	fsys, rel, err := r.route("lstat", name)
	if err != nil {
		return nil, err
	}
	return fs.Lstat(fsys, rel)
}

func (r *releaseFS) ReadLink(name string) (string, error) {
	fsys, rel, err := r.route("readlink", name)
	if err != nil {
		return "", err
	}
	return fs.ReadLink(fsys, rel)
}
