package apply

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/receipt"
)

// A deploy step installs a package as <to>/releases/<version> and switches
// <to>/current, a symbolic link, to it with one rename(2). The previous
// target is recorded in the journal before the switch so that a failure or
// a crash at any point can switch back.

const currentLink = "current"

// deployResult is what a deploy step did.
type deployResult struct {
	dir   string // the new release directory
	files []receipt.File
	sw    switchRecord
}

// install puts the staged package into a new release directory under
// to/releases, substituting variables in the files that match patterns. When
// the package is deployed only once and the staging root is on the same file
// system, the staged tree is moved rather than copied (one write of the
// payload instead of two); its files were hashed against the manifest while
// they were extracted.
func install(staging string, m *bundle.Manifest, pkg bundle.PackageRef, movable bool, to, version string, patterns []string, vars *variables) (*deployResult, error) {
	releases := filepath.Join(to, "releases")
	if err := os.MkdirAll(releases, 0o755); err != nil {
		return nil, err
	}
	removeLeftovers(to)
	name, err := freeName(releases, version)
	if err != nil {
		return nil, err
	}
	final := filepath.Join(releases, name)
	tmp := filepath.Join(releases, "."+name+".tmp-"+randomSuffix())
	vars.builtins[bundle.BuiltinDeployPath] = final
	src := filepath.Join(staging, filepath.FromSlash(pkg.Root))
	var files []receipt.File
	moved := movable && os.Rename(src, tmp) == nil
	if moved {
		files, err = finishInPlace(tmp, final, m, pkg, patterns, vars)
	} else {
		files, err = copyTree(src, tmp, final, patterns, vars)
	}
	if err == nil && !moved {
		err = syncTree(tmp)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	// The modification time orders releases for pruning: it is the host's
	// real time of installation, not the zone clock recorded in receipts
	// (which an operator may set back).
	now := time.Now()
	os.Chtimes(final, now, now)
	if err := atomicfile.SyncDir(releases); err != nil {
		return nil, err
	}
	prev, _ := os.Readlink(filepath.Join(to, currentLink))
	rel := filepath.Join("releases", name)
	return &deployResult{dir: final, files: files, sw: switchRecord{To: to, Previous: prev, Next: rel, Dir: final}}, nil
}

// removeLeftovers deletes what an apply killed mid-deploy left behind: a
// half-copied release (releases/.<name>.tmp-*) and an unused link
// (.current.tmp-*). The zone lock means no other apply is writing them.
func removeLeftovers(to string) {
	for _, pattern := range []string{filepath.Join(to, "releases", ".*.tmp-*"), filepath.Join(to, ".current.tmp-*")} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			os.RemoveAll(m)
		}
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
// written by airlock itself) to dst, and returns the
// deployed files with their final digests (after substitution).
func copyTree(src, dst, final string, patterns []string, vars *variables) ([]receipt.File, error) {
	var files []receipt.File
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("staged %s is not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		slash := filepath.ToSlash(rel)
		sum, err := copyFile(p, target, info.Mode().Perm(), matchAny(patterns, slash), vars)
		if err != nil {
			return fmt.Errorf("%s: %w", slash, err)
		}
		files = append(files, receipt.File{Path: filepath.ToSlash(filepath.Join(final, rel)), SHA256: sum})
		return nil
	})
	return files, err
}

// manifestDigest returns the manifest digest of the package's regular
// file rel (relative to the package root), by binary search of the sorted
// manifest, rather than from a map of every file.
func manifestDigest(m *bundle.Manifest, pkg bundle.PackageRef, rel string) (string, bool) {
	p := pkg.Root + "/" + rel
	i, found := slices.BinarySearchFunc(m.Files, p, func(f bundle.File, p string) int { return strings.Compare(f.Path, p) })
	if !found || m.Files[i].Type != bundle.TypeFile {
		return "", false
	}
	return m.Files[i].SHA256, true
}

// finishInPlace substitutes variables in the matching files of a moved
// package tree and makes every file and directory durable.
func finishInPlace(dir, final string, m *bundle.Manifest, pkg bundle.PackageRef, patterns []string, vars *variables) ([]receipt.File, error) {
	files := make([]receipt.File, 0, min(max(pkg.Files, 0), len(m.Files)))
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("staged %s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		slash := filepath.ToSlash(rel)
		sum, ok := manifestDigest(m, pkg, slash)
		if !ok {
			return fmt.Errorf("staged %s is not in the manifest", slash)
		}
		if matchAny(patterns, slash) {
			sum, err = substituteFile(p, vars)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", slash, err)
		}
		files = append(files, receipt.File{Path: filepath.ToSlash(filepath.Join(final, rel)), SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, syncTree(dir)
}

// substituteFile rewrites p with its references expanded, atomically.
func substituteFile(p string, vars *variables) (string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	in, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := atomicfile.Create(p, info.Mode().Perm())
	if err != nil {
		return "", err
	}
	defer out.Abort()
	h := sha256.New()
	if err := substituteInto(io.MultiWriter(out, h), in, vars); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), out.Commit()
}

func matchAny(patterns []string, rel string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, rel); ok {
			return true
		}
	}
	return false
}

func copyFile(src, dst string, mode os.FileMode, substitute bool, vars *variables) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := io.MultiWriter(out, h)
	if substitute {
		err = substituteInto(w, in, vars)
	} else {
		_, err = io.Copy(w, in)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

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

// switchTo points to/current at next with one atomic rename.
func switchTo(to, next string) error {
	tmp := filepath.Join(to, ".current.tmp-"+randomSuffix())
	if next == "" {
		if err := os.Remove(filepath.Join(to, currentLink)); err != nil && !os.IsNotExist(err) {
			return err
		}
		return atomicfile.SyncDir(to)
	}
	if err := os.Symlink(next, tmp); err != nil {
		return fmt.Errorf("switch release: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(to, currentLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("switch release: %w", err)
	}
	return atomicfile.SyncDir(to)
}

// prune removes the oldest release directories beyond keep, never the
// current or the previous one.
func prune(to string, keep int, protect ...string) error {
	releases := filepath.Join(to, "releases")
	ents, err := os.ReadDir(releases)
	if err != nil {
		return err
	}
	type rel struct {
		name string
		mod  time.Time
	}
	var rels []rel
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		rels = append(rels, rel{e.Name(), info.ModTime()})
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].mod.After(rels[j].mod) })
	keepSet := map[string]bool{}
	for _, p := range protect {
		keepSet[filepath.Base(p)] = true
	}
	for i, r := range rels {
		if i < keep || keepSet[r.name] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(releases, r.name)); err != nil {
			return err
		}
	}
	return nil
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
