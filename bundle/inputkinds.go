package bundle

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// InputKind is where the content of an input of a release — a package —
// comes from, and so how the build reads it.
type InputKind string

// Input kinds.
const (
	InputPath    InputKind = "path"    // a file or a folder of the release directory
	InputArchive InputKind = "archive" // an archive of the release directory, unpacked at build
)

// Package is an input of a release: a file, a directory or the content of
// an archive, carried in the payload as packages/<Name>.
type Package struct {
	Name   string    // same format as Release.Name
	Kind   InputKind // what Source is
	Source string    // relative to Release.Dir, slash-separated and clean
}

// inputKind is one row of the input kind table.
type inputKind struct {
	kind InputKind
	// list is the list of airlock.yaml that declares inputs of this kind,
	// and key the key whose value is the source; what says what the source
	// is, for messages.
	list, key, what string
	// decode decodes the source (v, at field), reporting what is wrong
	// with it.
	decode func(d *releaseDecoder, v *yaml.Node, field string) string
	// walk adds the content of input p, whose source exists (field names
	// it), to the payload that w collects, and what it found to ref, the
	// package's line of the manifest. Folders and archives are read by the
	// release walker (a folder in place, an archive mounted as an fs.FS
	// through releaseFS); a kind whose content enters the payload another
	// way has its own walk.
	walk func(w *walker, field string, p Package, ref *PackageRef)
	// selector marks a key that may also accompany another kind's key of
	// the list, which then gives the source (an image's ref: selects the
	// image of a layout or archive); alone it gives the source itself.
	selector bool
	// fetch opens an image source at build (kinds of the images list).
	fetch func(f *imageFetcher, im *Image) (*fetchedImage, error)
}

// inputKinds is the one table of input kinds, used by the airlock.yaml
// decoder and the release walker. A new kind is a row here and its file
// (its decoder and walk).
var inputKinds = []inputKind{
	{kind: InputPath, list: "packages", key: "path", what: "a file or folder",
		decode: func(d *releaseDecoder, v *yaml.Node, field string) string { return d.relPath(v, field) },
		walk:   func(w *walker, field string, p Package, ref *PackageRef) { w.files(field, p, ref) }},
	{kind: InputArchive, list: "packages", key: "archive", what: "an archive to unpack",
		decode: (*releaseDecoder).archive, walk: walkArchive},
	{kind: InputImageLayout, list: "images", key: "layout", what: "an OCI image layout folder",
		decode: (*releaseDecoder).relPath, walk: walkImagePath, fetch: (*imageFetcher).layout},
	{kind: InputImageArchive, list: "images", key: "archive", what: "a docker save or OCI archive",
		decode: (*releaseDecoder).relPath, walk: walkImagePath, fetch: (*imageFetcher).archive},
	{kind: InputImageRef, list: "images", key: "ref", what: "an image in a registry", selector: true,
		decode: func(d *releaseDecoder, v *yaml.Node, field string) string { s, _ := d.scalar(v, field); return s },
		walk:   func(*walker, string, Package, *PackageRef) {}, fetch: (*imageFetcher).remote},
}

// packageKeys are the keys of an entry of packages: its name, and the
// source key of each input kind declared there.
var packageKeys = append([]string{"name"}, inputKeys("packages")...)

// inputKeys returns the source keys of the input kinds declared in list.
func inputKeys(list string) []string {
	var out []string
	for _, k := range inputKinds {
		if k.list == list {
			out = append(out, k.key)
		}
	}
	return out
}

// inputKindOf returns the row of kind, or nil.
func inputKindOf(kind InputKind) *inputKind {
	i := slices.IndexFunc(inputKinds, func(k inputKind) bool { return k.kind == kind })
	if i < 0 {
		return nil
	}
	return &inputKinds[i]
}

// field is the field of airlock.yaml that gives the source of the i-th
// input of the kind's list.
func (k *inputKind) field(i int) string { return indexField(k.list, i) + "." + k.key }

// inputSource decodes the source of entry item (mapping f, at field) of
// list: exactly one of the source keys of the list's input kinds.
func (d *releaseDecoder) inputSource(item *yaml.Node, f map[string]*yaml.Node, field, list string) (InputKind, string) {
	var kind InputKind
	var source string
	var given, selectors, keys, whats []string
	for _, k := range inputKinds {
		if k.list != list {
			continue
		}
		keys, whats = append(keys, fmt.Sprintf("%q (%s)", k.key, k.what)), append(whats, k.what)
		if hasKey(item, k.key) {
			if k.selector {
				selectors = append(selectors, k.key)
			} else {
				given = append(given, k.key)
			}
		}
	}
	if len(given) == 0 {
		given = selectors
	}
	for _, k := range inputKinds {
		if k.list == list && slices.Contains(given, k.key) {
			if v := f[k.key]; v != nil {
				kind, source = k.kind, k.decode(d, v, field+"."+k.key)
			}
		}
	}
	switch {
	case f == nil:
	case len(given) > 1:
		d.errorf(mappingKey(item, given[1]), field, "%s and %s are mutually exclusive (want one: %s)", given[0], given[1], strings.Join(whats, ", or "))
	case len(given) == 0:
		d.errorf(item, field, "missing required key: want %s", orList(keys))
	}
	return kind, source
}

// orList joins items as "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// archive decodes the path of an archive package, whose name must say its
// format.
func (d *releaseDecoder) archive(n *yaml.Node, field string) string {
	before := len(d.errs)
	s := d.relPath(n, field)
	if len(d.errs) == before && archiveFormatOf(s) == 0 {
		d.errorf(n, field, "%s is not a known kind of archive (want a name ending in %s)", quoteShort(s), archiveExtensions())
	}
	return s
}

// walkArchive mounts archive package p and walks it as the folder it
// holds: the release FS shows its files under the archive's own path.
func walkArchive(w *walker, field string, p Package, ref *PackageRef) {
	a, err := w.fsys.mount(p.Source)
	if err != nil {
		w.problem(field, "%s: %v", quoteShort(p.Source), unwrapPath(err))
		return
	}
	archive := a.ref
	ref.Archive, w.archive = &archive, &archive
	defer func() { w.archive = nil }()
	w.files(field, p, ref)
}
