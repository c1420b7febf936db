package bundle

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// source is one payload entry and where its content comes from.
type source struct {
	File
	rel string // path below the release directory ("" for directories made up by the builder)
}

// collect lists every payload entry of r (packages and step scripts), sorted
// by path, with parents before children. Only regular files and
// directories are accepted; content is read later through an os.Root.
func collect(r *Release) ([]source, []PackageRef, error) {
	byPath := map[string]source{}
	addDir := func(p string) {
		for d := p; d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = source{File: File{Path: d, Type: TypeDir, Mode: 0o755}}
			}
		}
	}
	addFile := func(p, rel string, info fs.FileInfo) error {
		if err := CheckPath(p); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (airlock carries regular files and directories only)", rel)
		}
		mode := Mode(0o644)
		if info.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		if old, dup := byPath[p]; dup && old.rel != rel {
			return fmt.Errorf("%s: payload path %s is already taken by %s", rel, p, old.rel)
		}
		addDir(path.Dir(p))
		byPath[p] = source{File: File{Path: p, Type: TypeFile, Mode: mode, Size: info.Size()}, rel: rel}
		return nil
	}
	var pkgs []PackageRef
	for _, p := range r.Packages {
		root := "packages/" + p.Name
		addDir(root)
		ref := PackageRef{Name: p.Name, Root: root}
		err := walkPackage(r.Dir, p.Path, func(relInPkg, rel string, info fs.FileInfo) error {
			target := root + "/" + relInPkg
			if info.IsDir() {
				if err := CheckPath(target); err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				addDir(target)
				return nil
			}
			ref.Files++
			ref.Size += info.Size()
			return addFile(target, rel, info)
		})
		if err != nil {
			return nil, nil, fmt.Errorf("package %s: %w", p.Name, err)
		}
		pkgs = append(pkgs, ref)
	}
	for _, s := range r.Steps {
		if s.Script == "" {
			continue
		}
		rel := path.Clean(filepath.ToSlash(s.Script))
		info, err := os.Lstat(filepath.Join(r.Dir, filepath.FromSlash(rel)))
		if err != nil {
			return nil, nil, fmt.Errorf("step %q: %w", s.Name, err)
		}
		if hasPrefixDir(rel, "packages") || rel == VariablesEntry {
			return nil, nil, fmt.Errorf("step %q: script path %s is reserved in the payload (packages/ and %s); move the script", s.Name, rel, VariablesEntry)
		}
		if err := addFile(ScriptPath(s.Script), rel, info); err != nil {
			return nil, nil, fmt.Errorf("step %q: %w", s.Name, err)
		}
	}
	out := make([]source, 0, len(byPath))
	for _, s := range byPath {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	if err := checkCollisions(out); err != nil {
		return nil, nil, err
	}
	return out, pkgs, nil
}

// ScriptPath is the payload path of a step script given relative to the
// release directory: the same path. Packages live under packages/, so a
// script there is refused by collect.
func ScriptPath(rel string) string {
	return path.Clean(filepath.ToSlash(rel))
}

// walkPackage visits a package path (file or directory) below dir without
// following symbolic links; fn gets the path relative to the package (for a
// single-file package, its base name) and relative to dir.
func walkPackage(dir, pkgPath string, fn func(relInPkg, rel string, info fs.FileInfo) error) error {
	rel := path.Clean(filepath.ToSlash(pkgPath))
	abs := filepath.Join(dir, filepath.FromSlash(rel))
	info, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fn(path.Base(rel), rel, info)
	}
	return filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == abs {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s: symbolic links are not carried (replace it with the file or directory)", relTo(dir, p))
		}
		sub, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(sub), relTo(dir, p), info)
	})
}

func relTo(dir, p string) string {
	r, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

func checkCollisions(entries []source) error {
	seen := map[string]string{foldKey(VariablesEntry): VariablesEntry}
	for _, e := range entries {
		k := foldKey(e.Path)
		if other, ok := seen[k]; ok {
			return fmt.Errorf("payload paths %s and %s collide on case-insensitive file systems", other, e.Path)
		}
		seen[k] = e.Path
	}
	return nil
}

// hasPrefixDir reports whether p is dir or below it.
func hasPrefixDir(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
