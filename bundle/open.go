package bundle

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"airlock.dev/airlock/internal/capped"
)

// Bundle is an opened bundle, in either form: a folder, or one tar file
// (".airlock") holding the same files in order. Nothing in it is trusted;
// Bundle only gives sized, bounded access to its files.
type Bundle struct {
	path  string
	dir   string   // folder form
	f     *os.File // single-file form
	files map[string]fileEntry
	names []string // in canonical order
}

type fileEntry struct {
	size   int64
	offset int64 // single-file form: where the content starts
}

// FormatError is a bundle whose container is damaged or is not a bundle: a
// single file that is not a well-formed tar of the bundle's files, or a
// bundle file that is not a regular file. It is a verdict on the bundle
// (a refusal), unlike an error reading it.
type FormatError struct {
	Path string
	Err  error
}

func (e *FormatError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// Open opens a bundle: a folder, a single .airlock file, or any file inside
// a bundle folder (such as its first part), which stands for the folder.
func Open(path string) (*Bundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return openDir(path)
	}
	if isBundleFileName(filepath.Base(path)) {
		return openDir(filepath.Dir(path))
	}
	return openFile(path)
}

// isBundleFileName reports whether name is one of the files of a bundle folder.
func isBundleFileName(name string) bool {
	switch name {
	case StatementFile, ManifestFile, PayloadFile, SumsFile:
		return true
	}
	_, ok := partIndex(name)
	return ok
}

// partIndex returns i for "payload.age.00i".
func partIndex(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, PayloadFile+".")
	if !ok || len(s) < 3 || len(s) > 4 {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 1 || i > MaxParts || PartName(i) != name {
		return 0, false
	}
	return i, true
}

func openDir(dir string) (*Bundle, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	b := &Bundle{path: dir, dir: dir, files: map[string]fileEntry{}}
	for _, e := range ents {
		if !isBundleFileName(e.Name()) {
			continue // other files on the media are not part of the bundle
		}
		info, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if !info.Mode().IsRegular() {
			return nil, &FormatError{Path: filepath.Join(dir, e.Name()), Err: errors.New("not a regular file")}
		}
		b.files[e.Name()] = fileEntry{size: info.Size()}
	}
	b.sortNames()
	return b, nil
}

// openFile indexes a single-file bundle: a plain tar of regular files with
// bundle names, each at most once, statement first. Content is not read;
// entries are later read through section readers.
func openFile(path string) (*Bundle, error) {
	f, _, err := capped.Open(path)
	var nr *capped.NotRegularError
	if errors.As(err, &nr) {
		return nil, &FormatError{Path: path, Err: errors.New(strings.TrimPrefix(nr.Error(), path+": "))}
	}
	if err != nil {
		return nil, err
	}
	b := &Bundle{path: path, f: f, files: map[string]fileEntry{}}
	if err := b.index(); err != nil {
		f.Close()
		var pe *os.PathError
		if errors.As(err, &pe) { // reading failed: not a verdict
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, &FormatError{Path: path, Err: err}
	}
	return b, nil
}

func (b *Bundle) index() error {
	st, err := b.f.Stat()
	if err != nil {
		return err
	}
	tr := tar.NewReader(b.f)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("not a bundle file (want a tar of %s, %s, parts): %w", StatementFile, ManifestFile, err)
		}
		switch {
		case n > MaxParts+3:
			return errors.New("too many entries")
		case hdr.Typeflag != tar.TypeReg:
			return fmt.Errorf("entry %q is not a regular file", hdr.Name)
		case !isBundleFileName(hdr.Name):
			return fmt.Errorf("unexpected entry %q", hdr.Name)
		case n == 0 && hdr.Name != StatementFile:
			return fmt.Errorf("first entry is %q, want %s", hdr.Name, StatementFile)
		}
		if _, dup := b.files[hdr.Name]; dup {
			return fmt.Errorf("entry %q appears twice", hdr.Name)
		}
		off, err := b.f.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		if hdr.Size < 0 || off+hdr.Size > st.Size() {
			return fmt.Errorf("entry %q: truncated (%d bytes declared)", hdr.Name, hdr.Size)
		}
		b.files[hdr.Name] = fileEntry{size: hdr.Size, offset: off}
	}
	if len(b.files) == 0 {
		return errors.New("empty bundle file")
	}
	b.sortNames()
	return nil
}

func (b *Bundle) sortNames() {
	var parts []FileRef
	for name := range b.files {
		if name == PayloadFile {
			parts = append(parts, FileRef{Name: name})
		} else if _, ok := partIndex(name); ok {
			parts = append(parts, FileRef{Name: name})
		}
	}
	for _, n := range bundleOrder(sortedParts(parts)) {
		if _, ok := b.files[n]; ok {
			b.names = append(b.names, n)
		}
	}
}

// Path is the path the bundle was opened from.
func (b *Bundle) Path() string { return b.path }

// SingleFile reports whether the bundle is one tar file.
func (b *Bundle) SingleFile() bool { return b.f != nil }

// Names lists the bundle's files in canonical order.
func (b *Bundle) Names() []string { return append([]string(nil), b.names...) }

// Parts lists the payload part files present, in order.
func (b *Bundle) Parts() []string {
	var out []string
	for _, n := range b.names {
		if n == PayloadFile || strings.HasPrefix(n, PayloadFile+".") {
			out = append(out, n)
		}
	}
	return out
}

// Size returns the size of a file of the bundle.
func (b *Bundle) Size(name string) (int64, bool) {
	e, ok := b.files[name]
	return e.size, ok
}

// ErrMissing is returned by OpenFile for a file the bundle does not have.
var ErrMissing = errors.New("missing from the bundle")

// OpenFile opens one of the bundle's files for reading.
func (b *Bundle) OpenFile(name string) (io.ReadCloser, error) {
	e, ok := b.files[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrMissing)
	}
	if b.f != nil {
		return io.NopCloser(io.NewSectionReader(b.f, e.offset, e.size)), nil
	}
	f, _, err := capped.Open(filepath.Join(b.dir, name))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// ReadFile reads a whole file of the bundle, refusing files over max bytes
// before reading them.
func (b *Bundle) ReadFile(name string, max int64) ([]byte, error) {
	size, ok := b.Size(name)
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrMissing)
	}
	if size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", name, size, max)
	}
	rc, err := b.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: grew past %d bytes while reading", name, max)
	}
	return data, nil
}

// Close releases the bundle.
func (b *Bundle) Close() error {
	if b.f != nil {
		return b.f.Close()
	}
	return nil
}
