package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/receipt"
)

// A deploy step installs a package as <to>/releases/<version> and switches
// <to>/current to it in one atomic step: on Unix a relative symbolic link
// renamed over the old one (rename(2)), on Windows a directory junction
// whose target is replaced in place (link_unix.go, link_windows.go). The
// new release is recorded in the journal before it is written, and the
// previous target of current before the switch, so that a failure or a
// crash at any point can switch back and remove what was written.
//
// Others may be able to write <to>. airlock never follows a link planted
// there: <to>/releases must be a real directory (it is created if absent),
// and <to>/current must be absent or a link airlock made (to releases/<name>).
// It removes only release directories it recorded installing (state
// directory, targets/), and only through an os.Root of <to>/releases.

const (
	currentLink = "current"
	releasesDir = "releases"
)

// installRecord is a release being installed: recorded in the journal
// before anything is written, so that recovery removes a half-written one.
type installRecord struct {
	To       string `json:"to"`       // deploy target
	Name     string `json:"name"`     // the new release: <to>/releases/<name>
	Tmp      string `json:"tmp"`      // where it is written first: <to>/releases/<tmp>
	Previous string `json:"previous"` // link target of current before ("" if none)
}

// Dir is the new release directory.
func (r *installRecord) Dir() string { return filepath.Join(r.To, releasesDir, r.Name) }

// deployResult is what a deploy step did.
type deployResult struct {
	dir   string // the new release directory
	files []receipt.File
}

// prepareInstall checks deploy target to — <to>/releases a real directory
// (made if absent), <to>/current absent or a link airlock made — removes
// what an interrupted deploy left there, and names the new release. It
// writes nothing else.
func prepareInstall(to, version string) (*installRecord, error) {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return nil, err
	}
	if err := ensureReleases(to); err != nil {
		return nil, err
	}
	prev, err := readCurrent(to)
	if err != nil {
		return nil, err
	}
	removeLeftovers(to)
	releases := filepath.Join(to, releasesDir)
	name, err := freeName(releases, version)
	if err != nil {
		return nil, err
	}
	return &installRecord{To: to, Name: name, Tmp: "." + name + ".tmp-" + randomSuffix(), Previous: prev}, nil
}

// ensureReleases makes <to>/releases, or checks that it is a directory and
// not a link: writing through a link someone planted would put the release,
// and later the pruning, wherever it points.
func ensureReleases(to string) error {
	p := filepath.Join(to, releasesDir)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		return atomicfile.SyncDir(to)
	}
	if err != nil {
		return err
	}
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 { // irregular: a junction on Windows
		what := "symbolic link"
		if fi.Mode()&fs.ModeSymlink == 0 {
			what = "junction"
		}
		target, _ := os.Readlink(p)
		return fmt.Errorf("%s is a %s (to %s), not a directory: refusing to write through it", p, what, target)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	return nil
}

// openReleases opens <to>/releases as an os.Root: nothing done through it
// leaves the directory, whatever links appear in it.
func openReleases(to string) (*os.Root, error) {
	if err := ensureReleases(to); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(to)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.OpenRoot(releasesDir)
}

// readCurrent returns the target of <to>/current: "" if there is none, or
// releases/<name> when it is a link airlock made. Anything else — a
// directory, a file, a link elsewhere — is refused: airlock replaces and
// removes only what it made.
func readCurrent(to string) (string, error) {
	p := filepath.Join(to, currentLink)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	target, err := releaseLink(to, fi)
	if err != nil {
		return "", err
	}
	if !isReleaseLink(target) {
		return "", fmt.Errorf("%s links to %s, not to %s/<release> as airlock makes it: refusing to replace it", p, target, releasesDir)
	}
	return target, nil
}

// currentNow is where <to>/current points now, for status: releases/<name>
// for a link airlock made, else what the link holds, else "".
func currentNow(to string) string {
	if cur, err := readCurrent(to); err == nil {
		return cur
	}
	target, _ := os.Readlink(filepath.Join(to, currentLink))
	return target
}

// isReleaseLink reports whether target is releases/<name> with a plain name.
func isReleaseLink(target string) bool {
	dir, name := path.Split(filepath.ToSlash(target))
	return dir == releasesDir+"/" && name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `\/`)
}

func kind(fi fs.FileInfo) string {
	if fi.IsDir() {
		return "directory"
	}
	return "file"
}

// install puts the staged package into the new release directory of ir,
// as d says (substitution, structured replacement, modes and owners):
// first under ir.Tmp, then renamed to ir.Name. When the package is
// deployed only once and the staging root is on the same file system, the
// staged tree is moved rather than copied (one write of the payload
// instead of two); its files were hashed against the manifest while they
// were extracted, and only those d changes are written again.
func install(staging string, m *bundle.Manifest, pkg bundle.PackageRef, movable bool, ir *installRecord, d *deployFiles) (*deployResult, error) {
	releases := filepath.Join(ir.To, releasesDir)
	final := ir.Dir()
	tmp := filepath.Join(releases, ir.Tmp)
	d.vars.builtins[bundle.BuiltinDeployPath] = final
	src := filepath.Join(staging, filepath.FromSlash(pkg.Root))
	var files []receipt.File
	var err error
	moved := movable && os.Rename(src, tmp) == nil
	if moved {
		files, err = finishInPlace(tmp, final, m, pkg, d)
	} else {
		files, err = copyTree(src, tmp, final, d)
	}
	if err == nil && !moved {
		err = syncTree(tmp)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	rel, err := openReleases(ir.To)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	defer rel.Close()
	if err := rel.Rename(ir.Tmp, ir.Name); err != nil {
		rel.RemoveAll(ir.Tmp)
		return nil, err
	}
	if err := atomicfile.SyncDir(releases); err != nil {
		return nil, err
	}
	return &deployResult{dir: final, files: files}, nil
}

// removeLeftovers deletes what an apply killed mid-deploy left behind: a
// half-copied release (releases/.<name>.tmp-*) and an unused link
// (.current.tmp-*). The zone lock means no other apply is writing them.
func removeLeftovers(to string) {
	if rel, err := openReleases(to); err == nil {
		ents, _ := fs.ReadDir(rel.FS(), ".")
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
				rel.RemoveAll(e.Name())
			}
		}
		rel.Close()
	}
	links, _ := filepath.Glob(filepath.Join(to, ".current.tmp-*"))
	for _, l := range links {
		os.Remove(l) // a link: removed, never followed
	}
}

// freeName returns version, or version~N when an earlier apply left a
// directory of that name (a re-apply never writes into a live release).
func freeName(releases, version string) (string, error) {
	name := version
	for n := 2; ; n++ {
		if _, err := os.Lstat(filepath.Join(releases, name)); os.IsNotExist(err) {
			return name, nil
		} else if err != nil {
			return "", err
		}
		name = fmt.Sprintf("%s~%d", version, n)
		if n > 1000 {
			return "", fmt.Errorf("too many releases named %s in %s", version, releases)
		}
	}
}

// copyTree copies regular files and directories from src (the staging root,
// written by airlock itself) to dst as d says, and returns the deployed
// files with their final digests and modes.
func copyTree(src, dst, final string, d *deployFiles) ([]receipt.File, error) {
	var files []receipt.File
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.ctx.Err() != nil {
			return context.Cause(d.ctx)
		}
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case !e.Type().IsRegular():
			return fmt.Errorf("staged %s is not a regular file", p)
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		dg, a, err := d.copy(p, target, filepath.ToSlash(rel), info.Mode().Perm())
		if err != nil {
			return err
		}
		files = append(files, a.file(filepath.ToSlash(filepath.Join(final, rel)), dg))
		return nil
	})
	return files, err
}

// packageFile returns the manifest entry of the package's regular file
// rel (relative to the package root), by binary search of the sorted
// manifest, rather than from a map of every file.
func packageFile(m *bundle.Manifest, pkg bundle.PackageRef, rel string) (*bundle.File, bool) {
	p := pkg.Root + "/" + rel
	i, found := slices.BinarySearchFunc(m.Files, p, func(f bundle.File, p string) int { return strings.Compare(f.Path, p) })
	if !found || m.Files[i].Type != bundle.TypeFile {
		return nil, false
	}
	return &m.Files[i], true
}

// finishInPlace completes a moved package tree as d says — staged files
// have their manifest digest and mode — and makes every file and
// directory durable.
func finishInPlace(dir, final string, m *bundle.Manifest, pkg bundle.PackageRef, d *deployFiles) ([]receipt.File, error) {
	files := make([]receipt.File, 0, min(max(pkg.Files, 0), len(m.Files)))
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.ctx.Err() != nil {
			return context.Cause(d.ctx)
		}
		if e.IsDir() {
			return nil
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("staged %s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		slash := filepath.ToSlash(rel)
		mf, ok := packageFile(m, pkg, slash)
		if !ok {
			return fmt.Errorf("staged %s is not in the manifest", slash)
		}
		dg, a, err := d.finish(p, slash, fs.FileMode(mf.Mode), mf.SHA256)
		if err != nil {
			return err
		}
		files = append(files, a.file(filepath.ToSlash(filepath.Join(final, rel)), dg))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, syncTree(dir)
}

// matchAny is the matcher of the builder's checks, so that what was
// checked is what is substituted.
func matchAny(patterns []string, rel string) bool { return bundle.MatchAnyGlob(patterns, rel) }

func substituteInto(w io.Writer, r io.Reader, vars *variables) error {
	data, err := io.ReadAll(io.LimitReader(r, bundle.MaxSubstituteSize+1))
	if err != nil {
		return err
	}
	if len(data) > bundle.MaxSubstituteSize {
		return fmt.Errorf("larger than %d bytes: too large for substitution", bundle.MaxSubstituteSize)
	}
	out, err := vars.expand(string(data))
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, out)
	return err
}

// switchTo points to/current at next (releases/<name>) in one atomic step
// (see pointCurrent), and makes the switch durable.
func switchTo(to, next string) error {
	if err := pointCurrent(to, next); err != nil {
		return fmt.Errorf("switch release: %w", err)
	}
	return atomicfile.SyncDir(to)
}

// switchBack undoes a switch: current points at sw.Previous again, or, if
// there was none, the link airlock made is removed — only if it is still
// that link; a current someone else put there is left alone.
func switchBack(sw *switchRecord) error {
	if sw.Previous != "" {
		return switchTo(sw.To, sw.Previous)
	}
	p := filepath.Join(sw.To, currentLink)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	target, err := readCurrent(sw.To)
	switch {
	case err != nil:
		return fmt.Errorf("%s is not the link airlock made: left as it is (%v)", p, err)
	case target != sw.Next:
		return fmt.Errorf("%s links to %s, not %s as airlock made it: left as it is", p, target, sw.Next)
	}
	if err := os.Remove(p); err != nil { // the link, never what it points to
		return err
	}
	return atomicfile.SyncDir(sw.To)
}

// removeRelease removes release name from <to>/releases through an
// os.Root, so that a link planted in its place is removed, not followed.
func removeRelease(to, name string) error {
	rel, err := openReleases(to)
	if err != nil {
		return err
	}
	defer rel.Close()
	return rel.RemoveAll(name)
}

// prune keeps the newest keep releases of application app in the record
// (the order in which airlock installed them), never the current or the
// previous one, and removes the others of app it recorded. Releases of
// other applications, or of none known, and directories it did not
// install are never touched. It returns the record without the removed
// releases.
func prune(rec *targetRecord, keep int, app string, protect ...string) (*targetRecord, error) {
	keepSet := map[string]bool{}
	for _, p := range protect {
		if p != "" {
			keepSet[path.Base(filepath.ToSlash(p))] = true
		}
	}
	out := &targetRecord{To: rec.To, Application: rec.Application, Releases: []releaseRecord{}}
	own := 0
	for _, r := range rec.Releases {
		if r.Application == app {
			own++
		}
	}
	var errs []error
	for _, r := range rec.Releases {
		if r.Application != app {
			out.Releases = append(out.Releases, r)
			continue
		}
		own--
		if own < keep || keepSet[r.Name] {
			out.Releases = append(out.Releases, r)
			continue
		}
		if err := removeRelease(rec.To, r.Name); err != nil {
			errs = append(errs, err)
			out.Releases = append(out.Releases, r)
		}
	}
	return out, errors.Join(errs...)
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
