package bundle

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/klauspost/compress/zstd"
)

// zipOf returns a zip of name → content, stored (not compressed) so tests
// can edit the bytes.
func zipOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: files[i], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, files[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
	}
	tw.Close()
	return buf.Bytes()
}

func openTest(t *testing.T, name string, data []byte, limits archiveLimits) (*archiveFS, error) {
	t.Helper()
	a, err := openArchive(fstest.MapFS{name: {Data: data}}, name, limits)
	if err == nil {
		t.Cleanup(func() { a.Close() })
	}
	return a, err
}

// TestArchiveLimits: an archive with more entries, bytes or name bytes
// than allowed is refused while it is indexed.
func TestArchiveLimits(t *testing.T) {
	small := archiveLimits{entries: 4, size: 10, names: 40}
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"within", []string{"a", "12345", "b/c", "12345"}, ""},
		{"entries", []string{"a", "", "b", "", "c", "", "d", "", "e", ""}, "more than 4 entries"},
		{"implied directories count", []string{"a/b/c/d/e", ""}, "more than 4 entries"},
		{"four entries", []string{"a/b/c/d", ""}, ""},
		{"size", []string{"a", "123456", "b", "123456"}, "more than 10 bytes"},
		{"names", []string{strings.Repeat("n", 41), ""}, "more than 40 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"x.zip", "x.tar"} {
				data := zipOf(t, tt.files...)
				if name == "x.tar" {
					var hdrs []*tar.Header
					for i := 0; i < len(tt.files); i += 2 {
						hdrs = append(hdrs, &tar.Header{Name: tt.files[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(tt.files[i+1]))})
					}
					data = tarOf(t, hdrs...)
				}
				_, err := openTest(t, name, data, small)
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s: %v", name, err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("%s: error %v, want %q", name, err, tt.want)
				}
			}
		})
	}
}

// TestZipEntries: the entry count is read from the end of a zip before
// archive/zip reads the central directory into memory.
func TestZipEntries(t *testing.T) {
	data := zipOf(t, "a", "1", "b", "2", "c", "3")
	if n := zipEntries(bytes.NewReader(data), int64(len(data))); n != 3 {
		t.Errorf("zipEntries = %d, want 3", n)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.SetComment(strings.Repeat("c", 1000))
	for range 70000 {
		zw.CreateHeader(&zip.FileHeader{Name: "d/", Method: zip.Store})
	}
	zw.Close()
	// More than 65535 entries: counted in the zip64 end record.
	big := buf.Bytes()
	if n := zipEntries(bytes.NewReader(big), int64(len(big))); n != 70000 {
		t.Errorf("zipEntries (zip64) = %d, want 70000", n)
	}
	if _, err := openTest(t, "x.zip", big, archiveLimits{entries: 1000, size: 1 << 20, names: 1 << 20}); err == nil || err.Error() != "more than 1000 entries" {
		t.Errorf("open: %v, want more than 1000 entries", err)
	}
}

// TestArchiveZipIntegrity: a zip file's CRC-32 and sizes are checked even
// though the build reads exactly the size the index gave.
func TestArchiveZipIntegrity(t *testing.T) {
	good := zipOf(t, "a.txt", "hello, world")
	read := func(data []byte) error {
		a, err := openTest(t, "x.zip", data, defaultArchiveLimits)
		if err != nil {
			return err
		}
		f, err := a.Open("a.txt")
		if err != nil {
			return err
		}
		defer f.Close()
		info, _ := f.Stat()
		_, err = io.Copy(io.Discard, io.LimitReader(f, info.Size()))
		return err
	}
	if err := read(good); err != nil {
		t.Fatalf("good zip: %v", err)
	}
	corrupt := bytes.Clone(good)
	i := bytes.Index(corrupt, []byte("hello"))
	corrupt[i] = 'j'
	if err := read(corrupt); !errors.Is(err, zip.ErrChecksum) {
		t.Errorf("zip with changed content: %v, want a checksum error", err)
	}
	// The central directory says 5 bytes; the entry holds 12.
	short := bytes.Clone(good)
	cd := bytes.Index(short, []byte("PK\x01\x02"))
	binary.LittleEndian.PutUint32(short[cd+24:], 5)
	if err := read(short); err == nil {
		t.Error("zip whose entry is longer than its header says was read without error")
	}
}

// TestArchiveTarMetadata: a global header (git archive writes one) is not
// an entry; a leading ./ is dropped.
func TestArchiveTarMetadata(t *testing.T) {
	data := tarOf(t,
		&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "abc"}},
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "./conf/app.conf", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3},
	)
	a, err := openTest(t, "x.tar", data, defaultArchiveLimits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	fs.WalkDir(a, ".", func(p string, d fs.DirEntry, err error) error {
		got = append(got, p)
		return err
	})
	if strings.Join(got, " ") != ". conf conf/app.conf" {
		t.Errorf("walked %v", got)
	}
	if err := fstest.TestFS(a, "conf/app.conf"); err != nil {
		t.Error(err)
	}
}

// TestArchiveZipRefusals: zip features airlock does not read are refused
// by entry.
func TestArchiveZipRefusals(t *testing.T) {
	enc := zipOf(t, "secret.txt", "x")
	// Set the "encrypted" flag in the central directory.
	cd := bytes.Index(enc, []byte("PK\x01\x02"))
	enc[cd+8] |= 1
	if _, err := openTest(t, "x.zip", enc, defaultArchiveLimits); err == nil || !strings.Contains(err.Error(), `entry "secret.txt": is encrypted`) {
		t.Errorf("encrypted entry: %v", err)
	}
}

// FuzzOpenArchive: an archive is hostile input. Whatever openArchive
// accepts holds only clean, unique relative paths, and each file reads as
// exactly its size or fails.
func FuzzOpenArchive(f *testing.F) {
	f.Add(zipOf(&testing.T{}, "a/b.txt", "hello", "c", ""), false)
	f.Add(tarOf(&testing.T{}, &tar.Header{Name: "./a/b", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3}), true)
	f.Fuzz(func(t *testing.T, data []byte, isTar bool) {
		name := "x.zip"
		if isTar {
			name = "x.tar"
		}
		a, err := openArchive(fstest.MapFS{name: {Data: data}}, name, archiveLimits{entries: 100, size: 1 << 20, names: 1 << 12})
		if err != nil {
			return
		}
		defer a.Close()
		folded := map[string]bool{}
		err = fs.WalkDir(a, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatalf("walk %s: %v", p, err)
			}
			if p == "." {
				return nil
			}
			if problem := entryPathProblem(p); problem != "" || folded[foldKey(p)] {
				t.Fatalf("accepted entry %q (%s)", p, problem)
			}
			folded[foldKey(p)] = true
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				t.Fatalf("accepted %q of type %v", p, d.Type())
			}
			info, _ := d.Info()
			file, err := a.Open(p)
			if err != nil {
				return nil
			}
			defer file.Close()
			n, err := io.Copy(io.Discard, file)
			if err == nil && n != info.Size() {
				t.Fatalf("%s: read %d bytes of %d without error", p, n, info.Size())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// countingFS is one file, name, whose bytes read are counted.
type countingFS struct {
	name string
	data []byte
	read *int64
}

func (c countingFS) Open(name string) (fs.File, error) {
	if name != c.name {
		return nil, fs.ErrNotExist
	}
	return &countingFile{c: c, r: bytes.NewReader(c.data)}, nil
}

type countingFile struct {
	c countingFS
	r *bytes.Reader
}

func (f *countingFile) Stat() (fs.FileInfo, error) {
	return fstest.MapFS{f.c.name: {Data: f.c.data}}.Stat(f.c.name)
}
func (f *countingFile) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	*f.c.read += int64(n)
	return n, err
}
func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(p, off)
	*f.c.read += int64(n)
	return n, err
}
func (f *countingFile) Close() error { return nil }

// TestCompressedTarRefusedFromHeaders: a compressed tar whose header
// announces more than the archive size limit is refused from that header,
// naming the entry, before its data is decompressed: of an archive of
// megabytes of compressed data, little is read. Before, the whole of it
// was decompressed into a temporary file first (until the disk was full).
func TestCompressedTarRefusedFromHeaders(t *testing.T) {
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	if err := tw.WriteHeader(&tar.Header{Name: "app/huge.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: MaxArchiveSize + 1}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	// Data that does not compress, so that the archive is large.
	noise := make([]byte, 8<<20)
	for i := range noise {
		noise[i] = byte(i*7919 ^ i>>8*31 ^ i>>16*131)
	}
	plain.Write(noise)
	for _, c := range []struct {
		name     string
		compress func(w io.Writer) io.WriteCloser
	}{
		{"x.tar.gz", func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }},
		{"x.tar.zst", func(w io.Writer) io.WriteCloser {
			zw, err := zstd.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return zw
		}},
	} {
		var data bytes.Buffer
		zw := c.compress(&data)
		zw.Write(plain.Bytes())
		zw.Close()
		var read int64
		_, err := openArchive(countingFS{c.name, data.Bytes(), &read}, c.name, defaultArchiveLimits)
		if err == nil || !strings.Contains(err.Error(), `entry "app/huge.bin"`) || !strings.Contains(err.Error(), "announces") {
			t.Errorf("%s: error %v, want the entry refused from its header", c.name, err)
		}
		if read > int64(data.Len())/4 {
			t.Errorf("%s: read %d of %d bytes before refusing", c.name, read, data.Len())
		}
	}
}

// FuzzCompressedTar: a compressed tar is read from its headers as it is
// decompressed, then indexed from the decompressed copy. Whatever the tar,
// the gzip-compressed form opens exactly when the plain tar does, with the
// same files, or is refused by a limit its headers announce.
func FuzzCompressedTar(f *testing.F) {
	f.Add(tarOf(&testing.T{}, &tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}, &tar.Header{Name: "c/", Typeflag: tar.TypeDir, Mode: 0o755}))
	f.Add(tarOf(&testing.T{}, &tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2000}))
	f.Fuzz(func(t *testing.T, data []byte) {
		limits := archiveLimits{entries: 10, size: 1000, names: 200}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		plain, perr := openArchive(fstest.MapFS{"x.tar": {Data: data}}, "x.tar", limits)
		packed, gerr := openArchive(fstest.MapFS{"x.tar.gz": {Data: gz.Bytes()}}, "x.tar.gz", limits)
		if perr == nil {
			defer plain.Close()
		}
		if gerr == nil {
			defer packed.Close()
		}
		switch {
		case gerr == nil && perr != nil:
			t.Fatalf("compressed form opens, plain tar refused: %v", perr)
		case gerr != nil && perr == nil:
			if !strings.Contains(gerr.Error(), "announces") && !strings.Contains(gerr.Error(), "entries") {
				t.Fatalf("plain tar opens, compressed form refused: %v", gerr)
			}
		case gerr == nil:
			if a, b := archiveFiles(t, plain), archiveFiles(t, packed); a != b {
				t.Fatalf("files differ: %s and %s", a, b)
			}
		}
	})
}

// archiveFiles lists an archive's files and sizes.
func archiveFiles(t *testing.T, a fs.FS) string {
	var b strings.Builder
	err := fs.WalkDir(a, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d\n", p, info.Mode(), info.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
