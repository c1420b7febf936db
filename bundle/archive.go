package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// Archive packages. A package may be an archive (zip, nupkg, tar, tar.gz,
// tgz, tar.zst) that the build unpacks into the payload: every file in it
// is listed in the manifest, hashed, substitutable and deployed like a
// file of a folder package. An archive is read as a read-only fs.FS over an
// index of its entries, and the release walker walks it as it walks a
// folder (see releaseFS). The index is made once per opening and refuses,
// naming the entry, anything but regular files and directories with clean
// relative paths: links, devices, "..", absolute paths, duplicates, a name
// that is both a file and a directory, names equal under case folding,
// and more entries or bytes than the limits.

// Limits of one archive package.
const (
	// MaxArchiveEntries bounds the entries (files and directories) of an archive.
	MaxArchiveEntries = 1 << 18
	// MaxArchiveSize bounds the bytes of an archive's files, unpacked.
	MaxArchiveSize = 32 << 30
	// maxArchiveNames bounds the bytes of an archive's entry names, so the
	// index stays small whatever the archive.
	maxArchiveNames = 32 << 20
	// maxZstdWindow bounds the memory the zstd decoder may use for one
	// window (zstd's own default limit when decompressing).
	maxZstdWindow = 128 << 20
)

// archiveLimits are the limits an archive is read with (tests use small ones).
type archiveLimits struct {
	entries int
	size    int64
	names   int64
}

var defaultArchiveLimits = archiveLimits{entries: MaxArchiveEntries, size: MaxArchiveSize, names: maxArchiveNames}

// archiveKind is how an archive is read.
type archiveKind int

const (
	kindZip    archiveKind = iota + 1 // zip: read in place
	kindNupkg                         // a NuGet package: zip, without NuGet's own metadata
	kindTar                           // tar: read in place
	kindTarGz                         // gzip-compressed tar: unpacked into a temporary file
	kindTarZst                        // zstd-compressed tar: unpacked into a temporary file
)

// archiveFormats maps file name endings (in any case) to their kind, in
// the order messages list them.
var archiveFormats = []struct {
	ext  string
	kind archiveKind
}{
	{".zip", kindZip}, {".nupkg", kindNupkg}, {".tar", kindTar},
	{".tar.gz", kindTarGz}, {".tgz", kindTarGz}, {".tar.zst", kindTarZst},
}

// archiveFormatOf returns the kind of archive name names, or 0.
func archiveFormatOf(name string) archiveKind {
	lower := strings.ToLower(name)
	for _, f := range archiveFormats {
		if strings.HasSuffix(lower, f.ext) && len(lower) > len(f.ext) {
			return f.kind
		}
	}
	return 0
}

// archiveExtensions lists the endings for messages: ".zip, .nupkg, … or .tar.zst".
func archiveExtensions() string {
	exts := make([]string, len(archiveFormats))
	for i, f := range archiveFormats {
		exts[i] = f.ext
	}
	return orList(exts)
}

// ArchiveRef names the archive a package was unpacked from: its path in
// the release directory, size and SHA-256, so that the bundle can be
// matched with the artifact it was built from.
type ArchiveRef struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// archiveFS is a read-only fs.FS of an archive's files.
type archiveFS struct {
	ref     ArchiveRef
	entries map[string]*archiveEntry // by clean path; "." is the root
	close   func() error
}

// archiveEntry is one file or directory of an archive.
type archiveEntry struct {
	name     string // base name ("." for the root)
	mode     fs.FileMode
	size     int64
	open     func() (io.ReadCloser, error) // regular files
	children []*archiveEntry               // directories, sorted by name once indexed
	explicit bool                          // listed in the archive (not only implied by a path)
}

// openArchive opens the archive file name of fsys, checks and indexes its
// entries, and returns it as an fs.FS. The caller closes it.
func openArchive(fsys fs.FS, name string, limits archiveLimits) (*archiveFS, error) {
	kind := archiveFormatOf(name)
	if kind == 0 {
		return nil, fmt.Errorf("not a known kind of archive (want a name ending in %s)", archiveExtensions())
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("is not a regular file")
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		f.Close()
		return nil, errors.New("cannot be read at random (not a file of the release directory)")
	}
	a := &archiveFS{ref: ArchiveRef{Name: name, Size: info.Size()}, close: f.Close}
	ix := &archiveIndex{a: a, limits: limits, folded: map[string]string{}, nupkg: kind == kindNupkg}
	a.entries = map[string]*archiveEntry{".": {name: ".", mode: fs.ModeDir | 0o755, explicit: true}}
	raw := io.NewSectionReader(ra, 0, info.Size())
	switch kind {
	case kindZip, kindNupkg:
		err = a.hash(raw)
		if err == nil {
			err = ix.zip(ra, info.Size())
		}
	case kindTar:
		err = a.hash(raw)
		if err == nil {
			err = ix.tar(io.NewSectionReader(ra, 0, info.Size()))
		}
	default:
		err = a.spool(raw, kind, limits, ix)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	for _, e := range a.entries {
		sort.Slice(e.children, func(i, j int) bool { return e.children[i].name < e.children[j].name })
	}
	return a, nil
}

// Close releases the archive file and any temporary file.
func (a *archiveFS) Close() error { return a.close() }

// hash records the SHA-256 of the archive file.
func (a *archiveFS) hash(r io.Reader) error {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	a.ref.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// spool decompresses a compressed tar into a temporary file, hashing the
// archive as it is read, and indexes the tar there. The temporary file is
// removed when the archive is closed.
func (a *archiveFS) spool(raw io.Reader, kind archiveKind, limits archiveLimits, ix *archiveIndex) error {
	h := sha256.New()
	in := io.TeeReader(raw, h)
	var dec io.Reader
	switch kind {
	case kindTarGz:
		zr, err := gzip.NewReader(in)
		if err != nil {
			return fmt.Errorf("not gzip-compressed: %w", err)
		}
		defer zr.Close()
		dec = zr
	case kindTarZst:
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return err
		}
		defer zr.Close()
		dec = zr
	}
	tmp, err := os.CreateTemp("", "airlock-archive-*.tar")
	if err != nil {
		return err
	}
	closeFile := a.close
	a.close = func() error {
		err := tmp.Close()
		os.Remove(tmp.Name())
		return errors.Join(closeFile(), err)
	}
	// The tar holds the files, a header of 512 bytes or more for each
	// entry, and an end marker.
	limit := limits.size + int64(limits.entries+2)*4096 + limits.names
	// What is decompressed is written to the temporary file as a tar
	// reader reads it, so each entry's header is checked before its data
	// is decompressed: an archive that announces more than the limits is
	// refused from its headers, not once the disk is full.
	spooled := &countingWriter{w: tmp}
	tee := io.TeeReader(io.LimitReader(dec, limit+1), spooled)
	if err := headerCheck(tar.NewReader(tee), limits); err != nil {
		return err
	}
	// The end marker and the padding after it.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	n := spooled.n
	if spooled.err != nil {
		return spooled.err
	}
	if n > limit {
		return fmt.Errorf("unpacks to more than %d bytes", limit)
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return err
	}
	a.ref.SHA256 = hex.EncodeToString(h.Sum(nil))
	return ix.tar(io.NewSectionReader(tmp, 0, n))
}

// headerCheck reads the entries of a compressed tar as it is decompressed
// and refuses, naming the entry, one whose header announces more bytes
// than the archive's files may take, or more entries than the limit,
// before reading the entry's data. The index is made afterwards, with
// every other check, from the decompressed copy.
func headerCheck(tr *tar.Reader, limits archiveLimits) error {
	var size int64
	for entries := 0; ; {
		hdr, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("not a compressed tar archive: %w", err)
		case hdr.Typeflag == tar.TypeXGlobalHeader:
			continue
		case hdr.Size < 0:
			return errf(hdr.Name, "has a negative size")
		}
		if entries++; entries > limits.entries {
			return fmt.Errorf("more than %d entries", limits.entries)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue // its size is not read (as the index does)
		}
		if size += hdr.Size; size > limits.size || size < 0 {
			return errf(hdr.Name, "announces %d bytes: files would take more than %d bytes unpacked", hdr.Size, limits.size)
		}
	}
}

// countingWriter writes to w and counts the bytes; after an error it
// keeps its error and discards the rest, so that a reader teeing into it
// stops at the next read.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// archiveIndex builds an archive's index, entry by entry.
type archiveIndex struct {
	a      *archiveFS
	limits archiveLimits
	nupkg  bool
	folded map[string]string // case-folded path → path
	size   int64             // bytes of files so far
	names  int64             // bytes of names so far
}

// errf returns an error about the entry named raw.
func errf(raw, format string, args ...any) error {
	return fmt.Errorf("entry %s: %s", quoteShort(raw), fmt.Sprintf(format, args...))
}

// nupkgMetadata reports whether a nupkg entry is NuGet's own packaging
// (left out, as Octopus leaves it out when it extracts a package).
func nupkgMetadata(name string) bool {
	lower := strings.ToLower(name)
	return lower == "[content_types].xml" || strings.HasPrefix(lower, "_rels/") ||
		strings.HasPrefix(lower, "package/services/metadata/") ||
		strings.HasSuffix(lower, ".nupkg.sha512") || path.Ext(lower) == ".nuspec"
}

// add checks one entry and adds it to the index. kind is "" for a regular
// file or directory (dir says which), or what else it is.
func (ix *archiveIndex) add(raw string, dir bool, kind string, perm fs.FileMode, size int64, open func() (io.ReadCloser, error)) error {
	name := raw
	if ix.nupkg && strings.Contains(name, "%") {
		// NuGet escapes names as URIs (Octopus unescapes them too).
		if u, err := url.PathUnescape(name); err == nil {
			name = u
		}
	}
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if strings.HasSuffix(name, "/") {
		dir, name = true, strings.TrimSuffix(name, "/")
	}
	if ix.nupkg && nupkgMetadata(name) {
		return nil
	}
	if name == "" || name == "." {
		if dir {
			return nil // the archive's root
		}
		return errf(raw, "has no name")
	}
	if err := entryPathProblem(name); err != "" {
		return errf(raw, "%s", err)
	}
	if kind != "" {
		return errf(raw, "is a %s: archives may hold only regular files and directories", kind)
	}
	if ix.names += int64(len(name)); ix.names > ix.limits.names {
		return fmt.Errorf("entry names take more than %d bytes", ix.limits.names)
	}
	if !dir {
		if size < 0 {
			return errf(raw, "has a negative size")
		}
		if ix.size += size; ix.size > ix.limits.size || ix.size < 0 {
			return fmt.Errorf("files take more than %d bytes unpacked", ix.limits.size)
		}
	}
	if e, ok := ix.a.entries[name]; ok {
		switch {
		case !dir || e.mode.IsRegular():
			return errf(raw, "appears twice, or is both a file and a directory")
		case e.explicit:
			return errf(raw, "appears twice")
		}
		e.explicit = true
		return nil
	}
	e := &archiveEntry{name: path.Base(name), mode: perm &^ fs.ModeType, size: size, open: open, explicit: true}
	if dir {
		e.mode, e.size, e.open = fs.ModeDir|0o755, 0, nil
	}
	return ix.insert(raw, name, e)
}

// insert puts e at name, with its parent directories.
func (ix *archiveIndex) insert(raw, name string, e *archiveEntry) error {
	key := foldKey(name)
	if other, ok := ix.folded[key]; ok {
		return errf(raw, "collides with %s on case-insensitive file systems", quoteShort(other))
	}
	parentName := path.Dir(name)
	parent, ok := ix.a.entries[parentName]
	switch {
	case !ok:
		parent = &archiveEntry{name: path.Base(parentName), mode: fs.ModeDir | 0o755}
		if err := ix.insert(raw, parentName, parent); err != nil {
			return err
		}
	case parent.mode.IsRegular():
		return errf(raw, "is inside %s, which is a file", quoteShort(parentName))
	}
	if len(ix.a.entries) > ix.limits.entries { // the root is not an entry
		return fmt.Errorf("more than %d entries", ix.limits.entries)
	}
	ix.folded[key] = name
	ix.a.entries[name] = e
	parent.children = append(parent.children, e)
	return nil
}

// entryPathProblem returns why name is not a clean relative slash path, or "".
func entryPathProblem(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.ContainsFunc(name, unicode.IsControl):
		return "has a control character in its name"
	case strings.Contains(name, `\`):
		return `uses "\" in its name (an archive made with Windows separators: make it again with "/")`
	case strings.HasPrefix(name, "/") || len(name) >= 2 && name[1] == ':' && isASCIILetter(name[0]):
		return "is an absolute path"
	}
	els := strings.Split(name, "/")
	switch {
	case slices.Contains(els, ".."):
		return `leaves the archive (".." is not allowed)`
	case slices.Contains(els, "") || slices.Contains(els, "."):
		return `is not a clean path (empty or "." element)`
	}
	return ""
}

// zipEntries returns the number of entries the end of a zip archive
// announces, or 0 when it cannot tell (zip.NewReader then says why).
func zipEntries(ra io.ReaderAt, size int64) uint64 {
	const eocdLen, maxComment, locatorLen = 22, 65535, 20
	tail := make([]byte, min(size, eocdLen+maxComment))
	off := size - int64(len(tail))
	if _, err := ra.ReadAt(tail, off); err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocdLen {
		return 0
	}
	if n := binary.LittleEndian.Uint16(tail[i+10:]); n != 0xffff {
		return uint64(n)
	}
	// Zip64: the locator before the end record gives the zip64 end record.
	if i < locatorLen || !bytes.Equal(tail[i-locatorLen:i-locatorLen+4], []byte("PK\x06\x07")) {
		return 0
	}
	rec := make([]byte, 40)
	if _, err := ra.ReadAt(rec, int64(binary.LittleEndian.Uint64(tail[i-locatorLen+8:]))); err != nil || !bytes.HasPrefix(rec, []byte("PK\x06\x06")) {
		return 0
	}
	return binary.LittleEndian.Uint64(rec[32:])
}

// zip indexes a zip archive.
func (ix *archiveIndex) zip(ra io.ReaderAt, size int64) error {
	// archive/zip holds the whole central directory in memory: count first.
	if n := zipEntries(ra, size); n > uint64(ix.limits.entries) {
		return fmt.Errorf("more than %d entries", ix.limits.entries)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // insecure names are refused below, by name
		return fmt.Errorf("not a zip archive: %w", err)
	}
	if len(zr.File) > ix.limits.entries {
		return fmt.Errorf("more than %d entries", ix.limits.entries)
	}
	for _, f := range zr.File {
		mode := f.Mode()
		dir := strings.HasSuffix(f.Name, "/") || mode.IsDir()
		kind := ""
		switch {
		case f.Flags&0x1 != 0:
			return errf(f.Name, "is encrypted")
		case !dir && !mode.IsRegular():
			kind = FileKind(mode)
		case !dir && f.Method != zip.Store && f.Method != zip.Deflate:
			return errf(f.Name, "is compressed with method %d (want stored or deflated)", f.Method)
		case f.UncompressedSize64 > uint64(ix.limits.size):
			return fmt.Errorf("files take more than %d bytes unpacked", ix.limits.size)
		}
		size := int64(f.UncompressedSize64)
		open := func() (io.ReadCloser, error) {
			rc, err := f.Open()
			if err != nil {
				return nil, err
			}
			return &exactReader{r: rc, c: rc, left: size}, nil
		}
		if err := ix.add(f.Name, dir, kind, mode.Perm(), size, open); err != nil {
			return err
		}
	}
	return nil
}

// tar indexes a tar archive read from sr, whose files are read in place.
func (ix *archiveIndex) tar(sr *io.SectionReader) error {
	tr := tar.NewReader(sr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return err
		}
		kind, dir := "", false
		switch hdr.Typeflag {
		case tar.TypeReg:
			for k := range hdr.PAXRecords {
				if strings.HasPrefix(k, "GNU.sparse.") {
					kind = "sparse file"
				}
			}
		case tar.TypeDir:
			dir = true
		case tar.TypeXGlobalHeader:
			continue // metadata for the whole archive (git archive writes one)
		case tar.TypeSymlink:
			kind = "symbolic link"
		case tar.TypeLink:
			kind = "hard link"
		case tar.TypeChar, tar.TypeBlock:
			kind = "device"
		case tar.TypeFifo:
			kind = "named pipe"
		case tar.TypeGNUSparse:
			kind = "sparse file"
		default:
			kind = fmt.Sprintf("entry of type %q", hdr.Typeflag)
		}
		size := hdr.Size
		open := func() (io.ReadCloser, error) {
			return io.NopCloser(io.NewSectionReader(sr, off, size)), nil
		}
		if err := ix.add(hdr.Name, dir, kind, fs.FileMode(hdr.Mode).Perm(), size, open); err != nil {
			return err
		}
	}
}

// exactReader reads a file of a known size, and fails if the data is
// longer or shorter, or if its reader reports a problem at its end (zip
// checks the CRC-32 there), even when the caller stops at the size.
type exactReader struct {
	r    io.Reader
	c    io.Closer
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		e.err = e.finish()
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		e.err = e.finish()
		if e.err != io.EOF {
			return n, e.err
		}
	case errors.Is(err, io.EOF):
		e.err = errors.New("shorter than its header says")
		return n, e.err
	case err != nil:
		e.err = err
		return n, err
	}
	return n, nil
}

// finish reads on at the end of the data: io.EOF means the data ended
// where its header said and its reader found nothing wrong.
func (e *exactReader) finish() error {
	var probe [1]byte
	for range 100 {
		m, err := e.r.Read(probe[:])
		switch {
		case m > 0:
			return errors.New("longer than its header says")
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

func (e *exactReader) Close() error { return e.c.Close() }

// Open opens a file or directory of the archive.
func (a *archiveFS) Open(name string) (fs.File, error) {
	e, err := a.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if e.mode.IsDir() {
		return &archiveDir{e: e}, nil
	}
	rc, err := e.open()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &archiveFile{e: e, rc: rc}, nil
}

// Stat describes a file or directory of the archive.
func (a *archiveFS) Stat(name string) (fs.FileInfo, error) {
	e, err := a.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return entryInfo{e}, nil
}

// ReadDir lists a directory of the archive, sorted by name.
func (a *archiveFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := a.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !e.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return dirEntries(e.children), nil
}

func (a *archiveFS) lookup(op, name string) (*archiveEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, ok := a.entries[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

func dirEntries(children []*archiveEntry) []fs.DirEntry {
	out := make([]fs.DirEntry, len(children))
	for i, c := range children {
		out[i] = fs.FileInfoToDirEntry(entryInfo{c})
	}
	return out
}

// entryInfo is the fs.FileInfo of an archive entry. Times are not kept:
// the payload has its own (SOURCE_DATE_EPOCH).
type entryInfo struct{ e *archiveEntry }

func (i entryInfo) Name() string       { return i.e.name }
func (i entryInfo) Size() int64        { return i.e.size }
func (i entryInfo) Mode() fs.FileMode  { return i.e.mode }
func (i entryInfo) ModTime() time.Time { return time.Time{} }
func (i entryInfo) IsDir() bool        { return i.e.mode.IsDir() }
func (i entryInfo) Sys() any           { return nil }

// archiveFile is an open regular file of an archive.
type archiveFile struct {
	e  *archiveEntry
	rc io.ReadCloser
}

func (f *archiveFile) Stat() (fs.FileInfo, error) { return entryInfo{f.e}, nil }
func (f *archiveFile) Read(p []byte) (int, error) { return f.rc.Read(p) }
func (f *archiveFile) Close() error               { return f.rc.Close() }

// archiveDir is an open directory of an archive.
type archiveDir struct {
	e    *archiveEntry
	read int
}

func (d *archiveDir) Stat() (fs.FileInfo, error) { return entryInfo{d.e}, nil }
func (d *archiveDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.e.name, Err: errors.New("is a directory")}
}
func (d *archiveDir) Close() error { return nil }

// ReadDir lists the directory as fs.ReadDirFile says.
func (d *archiveDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.e.children[d.read:]
	if n > 0 && len(rest) > n {
		rest = rest[:n]
	}
	d.read += len(rest)
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	return dirEntries(rest), nil
}
