package stage

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/rootdir"
)

// variables reads the first entry, variables.json, into memory and decodes
// it strictly. Its content never reaches the disk or an error message.
func (x *extraction) variables(tr *tar.Reader) (*bundle.VariablesDoc, error) {
	const name = bundle.VariablesEntry
	ref := x.o.Manifest.VariablesFile
	if ref.Size < 0 || ref.Size > bundle.MaxVariablesSize {
		return nil, &Error{Entry: name, Msg: fmt.Sprintf("the manifest declares %d bytes, at most %d allowed", ref.Size, bundle.MaxVariablesSize)}
	}
	hdr, err := next(tr)
	if err == io.EOF {
		return nil, &Error{Entry: name, Msg: "missing: the archive is empty"}
	}
	if err != nil {
		return nil, x.streamError(name, "reading the first tar header", err)
	}
	if hdr.Name != name {
		return nil, &Error{Entry: display(hdr.Name), Msg: "is the first entry; the payload must start with " + name}
	}
	if err := checkKind(hdr, tar.TypeReg, "a regular file"); err != nil {
		return nil, err
	}
	if hdr.Size != ref.Size {
		return nil, &Error{Entry: name, Msg: fmt.Sprintf("size %d bytes, the manifest says %d", hdr.Size, ref.Size)}
	}
	data := make([]byte, ref.Size)
	defer clear(data)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, x.streamError(name, "reading its content", err)
	}
	if got := sha256Hex(data); got != ref.SHA256 {
		return nil, &Error{Entry: name, Msg: fmt.Sprintf("sha256 %s, the manifest says %s", got, ref.SHA256)}
	}
	var doc bundle.VariablesDoc
	if err := jsonx.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Entry: name, Msg: jsonProblem(err)}
	}
	return &doc, nil
}

// jsonProblem describes a decoding error without quoting the document: some
// encoding/json errors include literal values, and these are secrets.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: it ends in the middle of a value"
	}
	return "does not decode strictly as a variables document (details withheld: it holds secret values)"
}

// entry extracts the next tar entry, which must be the listed file f.
func (x *extraction) entry(tr *tar.Reader, f *bundle.File) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	if err := checkListed(f); err != nil {
		return err
	}
	hdr, err := next(tr)
	if err == io.EOF {
		return &Error{Entry: display(f.Path), Msg: "missing: the archive ends before this listed " + describe(f)}
	}
	if err != nil {
		return x.streamError(display(f.Path), "reading its tar header", err)
	}
	if err := checkHeader(hdr, f); err != nil {
		return err
	}
	if f.Type == bundle.TypeDir {
		return x.w.send(job{kind: jobMkdir, f: f})
	}
	return x.writeFile(tr, f)
}

// next is tr.Next, except that a header archive/tar flags with
// ErrInsecurePath (under GODEBUG=tarinsecurepath=0) is returned for the
// manifest checks to refuse with a precise message: they are stricter.
func next(tr *tar.Reader) (*tar.Header, error) {
	hdr, err := tr.Next()
	if hdr != nil && errors.Is(err, tar.ErrInsecurePath) {
		return hdr, nil
	}
	return hdr, err
}

// checkListed checks a manifest entry again before it is used (defence in
// depth: package verify has validated the whole manifest).
func checkListed(f *bundle.File) error {
	if err := bundle.CheckPath(f.Path); err != nil {
		return &Error{Entry: display(f.Path), Msg: "refused by the manifest path rules: " + err.Error()}
	}
	ok := false
	switch f.Type {
	case bundle.TypeDir:
		ok = f.Mode == 0o755 && f.Size == 0
	case bundle.TypeFile:
		ok = (f.Mode == 0o644 || f.Mode == 0o755) && f.Size >= 0
	}
	if !ok {
		return &Error{Entry: display(f.Path), Msg: fmt.Sprintf("listed with type %q, mode %04o and size %d, which the manifest rules do not allow", f.Type, uint32(f.Mode), f.Size)}
	}
	return nil
}

// checkHeader compares the final tar header (after any PAX or GNU long-name
// records were applied) with the listed entry f.
func checkHeader(hdr *tar.Header, f *bundle.File) error {
	want, wantDesc := byte(tar.TypeReg), "a regular file"
	if f.Type == bundle.TypeDir {
		want, wantDesc = tar.TypeDir, "a directory"
	}
	name := hdr.Name
	if f.Type == bundle.TypeDir || hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	refuse := func(format string, a ...any) error {
		return &Error{Entry: display(hdr.Name), Msg: fmt.Sprintf(format, a...)}
	}
	if name != f.Path {
		return refuse("found where the manifest lists %s next (%s); entries must match the manifest, in its order", strconv.Quote(f.Path), describe(f))
	}
	if err := checkKind(hdr, want, wantDesc); err != nil {
		return err
	}
	switch {
	case hdr.Size != f.Size:
		return refuse("size %d bytes, the manifest says %d", hdr.Size, f.Size)
	case hdr.Mode&^0o777 != 0:
		return refuse("mode %#o has setuid, setgid, sticky or file-type bits; the manifest says %04o", hdr.Mode, uint32(f.Mode))
	case hdr.Mode != int64(f.Mode):
		return refuse("mode %04o, the manifest says %04o", hdr.Mode, uint32(f.Mode))
	}
	return nil
}

// checkKind refuses every type but want, link targets, and sparse files
// (which archive/tar would expand from a map, whatever the stored bytes).
func checkKind(hdr *tar.Header, want byte, wantDesc string) error {
	refuse := func(format string, a ...any) error {
		return &Error{Entry: display(hdr.Name), Msg: fmt.Sprintf(format, a...)}
	}
	if hdr.Typeflag != want {
		return refuse("is %s, the manifest lists %s; only regular files and directories are extracted", typeName(hdr), wantDesc)
	}
	if hdr.Linkname != "" {
		return refuse("has a link target %s; only regular files and directories are extracted", strconv.Quote(hdr.Linkname))
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return refuse("is a sparse file (PAX record %s); sparse files are not extracted", strconv.Quote(k))
		}
	}
	return nil
}

func typeName(hdr *tar.Header) string {
	switch hdr.Typeflag {
	case tar.TypeReg:
		return "a regular file"
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symbolic link to " + strconv.Quote(hdr.Linkname)
	case tar.TypeLink:
		return "a hard link to " + strconv.Quote(hdr.Linkname)
	case tar.TypeChar:
		return "a character device"
	case tar.TypeBlock:
		return "a block device"
	case tar.TypeFifo:
		return "a FIFO"
	case tar.TypeCont:
		return "a contiguous file"
	case tar.TypeGNUSparse:
		return "a GNU sparse file"
	case tar.TypeXGlobalHeader:
		return "a PAX global header"
	}
	return fmt.Sprintf("an entry of type %q", hdr.Typeflag)
}

func describe(f *bundle.File) string {
	if f.Type == bundle.TypeDir {
		return "directory"
	}
	return fmt.Sprintf("file of %d bytes, mode %04o", f.Size, uint32(f.Mode))
}

// writeFile has the writer create the listed file f, and sends it
// exactly f.Size bytes of content while hashing them; the writer gives the
// file its listed mode only once the digest matches the manifest, and
// removes it otherwise.
func (x *extraction) writeFile(tr io.Reader, f *bundle.File) error {
	if err := x.w.send(job{kind: jobCreate, f: f}); err != nil {
		return err
	}
	h := x.fileHash
	h.Reset()
	for n := int64(0); n < f.Size; {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		buf := x.w.buffer()
		chunk := buf[:min(int64(len(buf)), f.Size-n)]
		k, rerr := io.ReadFull(tr, chunk)
		h.Write(chunk[:k])
		n += int64(k)
		if err := x.w.send(job{kind: jobData, f: f, data: chunk[:k]}); err != nil {
			return err
		}
		if rerr != nil {
			x.w.send(job{kind: jobFinish, f: f})
			return x.streamError(display(f.Path), fmt.Sprintf("content ends after %d of %d bytes", n, f.Size), rerr)
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if err := x.w.send(job{kind: jobFinish, f: f, ok: got == f.SHA256}); err != nil {
		return err
	}
	if got != f.SHA256 {
		return &Error{Entry: display(f.Path), Msg: fmt.Sprintf("sha256 %s, the manifest says %s", got, f.SHA256)}
	}
	return nil
}

// writebackSize is how much of a file is written before the kernel is
// asked to start writing it to the disk; files smaller than writebackMin
// are not written out early at all.
const (
	writebackSize = 8 << 20
	writebackMin  = 1 << 20
)

func createError(f *bundle.File, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return &Error{Entry: display(f.Path), Msg: "already exists in the staging directory (listed twice?)"}
	}
	return fmt.Errorf("create %s in the staging directory: %w", f.Path, err)
}

// maxShown bounds a name quoted in an error.
const maxShown = 200

// display makes an archive or manifest name safe to print: names with
// control, format or invalid characters are quoted, long ones cut.
func display(name string) string {
	if len(name) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		return strconv.Quote(name[:cut]) + "…"
	}
	if name == "" || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return strconv.Quote(name)
	}
	return name
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// dirCache keeps the directory last written into open, so that the files
// of one directory (the manifest lists them together, after it) are each
// created with one system call, not a walk from the root. It records the
// directories it made, to check at the end that each is still in place:
// files are created in open directories, so a directory swapped for
// something else meanwhile would otherwise go unnoticed.
type dirCache struct {
	cur  *rootdir.Dir
	dirs []madeDir
}

type madeDir struct {
	path string
	id   os.FileInfo
}

// open returns the open directory dir (a slash path in root, "." for the
// root), opening it through root if it is not the current one.
func (c *dirCache) open(root *os.Root, dir string) (*rootdir.Dir, error) {
	if c.cur != nil && c.cur.Name() == dir {
		return c.cur, nil
	}
	d, err := rootdir.OpenIn(root, dir)
	if err != nil {
		return nil, err
	}
	c.set(d)
	return d, nil
}

// made makes d, just created at path p, the current directory.
func (c *dirCache) made(d *rootdir.Dir, p string) {
	c.set(d)
	if id, err := d.Stat(); err == nil {
		c.dirs = append(c.dirs, madeDir{path: p, id: id})
	}
}

func (c *dirCache) set(d *rootdir.Dir) {
	if c.cur != nil {
		c.cur.Close()
	}
	c.cur = d
}

func (c *dirCache) close() {
	c.set(nil)
}

// check verifies that every directory made is still where it was made.
func (c *dirCache) check(root *os.Root) error {
	for _, d := range c.dirs {
		st, err := root.Lstat(filepath.FromSlash(d.path))
		if err != nil || !os.SameFile(st, d.id) {
			return fmt.Errorf("directory %s was replaced while extracting", d.path)
		}
	}
	return nil
}
