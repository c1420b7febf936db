package stage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/progress"
)

// entry is one raw tar entry as a test writes it: anything goes, lies
// included. The manifest a test checks it against is built separately.
type entry struct {
	name     string
	typ      byte
	mode     int64
	size     int64 // header size; -1 means the body's length
	body     []byte
	zeros    int64 // if > 0, the body is this many zero bytes
	linkname string
	truncate bool   // write the body (shorter than size) and end the archive there
	raw      []byte // if set, written as is instead of an entry
}

func reg(name string, mode int64, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: mode, size: -1, body: []byte(body)}
}

func dirEntry(name string) entry {
	return entry{name: name + "/", typ: tar.TypeDir, mode: 0o755}
}

func varsEntry(data []byte) entry {
	return entry{name: bundle.VariablesEntry, typ: tar.TypeReg, mode: 0o600, size: -1, body: data}
}

func rawEntry(b []byte) entry { return entry{raw: b} }

// testVars holds a canary secret that must never appear in an error.
const canary = "canary-s3cret-value"

var testVarsJSON = []byte(`{"salt":"5a17","values":{"DbPassword":"` + canary + `","Port":"8080"}}`)

// happyEntries is a small, well-formed payload; happyManifest lists it.
func happyEntries() []entry {
	return []entry{
		varsEntry(testVarsJSON),
		dirEntry("packages"),
		dirEntry("packages/app"),
		dirEntry("packages/app/bin"),
		reg("packages/app/bin/run", 0o755, "#!/bin/sh\necho run\n"),
		reg("packages/app/config.json", 0o644, `{"port":"#{Port}"}`),
		reg("packages/app/empty", 0o644, ""),
		dirEntry("scripts"),
		reg("scripts/migrate.sh", 0o755, "#!/bin/sh\nexit 0\n"),
	}
}

// manifestFor lists the entries as the builder would: variables.json first,
// then every other entry with its true size, mode and digest.
func manifestFor(entries []entry) *bundle.Manifest {
	m := &bundle.Manifest{
		FormatVersion: bundle.FormatVersion,
		Name:          "payments-api",
		Version:       "2.4.1",
		Channel:       "production",
		Packages:      []bundle.PackageRef{{Name: "app", Root: "packages/app", Files: 3}},
		Variables:     []bundle.VariableRef{{Name: "DbPassword", Sensitive: true}, {Name: "Port"}},
		Steps: []bundle.Step{{
			Name: "migrate", Script: "scripts/migrate.sh", When: "success",
			Timeout: bundle.Duration(time.Minute),
		}},
	}
	for _, e := range entries {
		switch {
		case e.name == bundle.VariablesEntry:
			m.VariablesFile = bundle.FileRef{Name: e.name, Size: int64(len(e.body)), SHA256: sumHex(e.body)}
		case e.typ == tar.TypeDir:
			m.Files = append(m.Files, dirRef(strings.TrimSuffix(e.name, "/")))
		default:
			m.Files = append(m.Files, fileRef(e.name, uint32(e.mode), string(e.body)))
		}
	}
	return m
}

func fileRef(path string, mode uint32, body string) bundle.File {
	return bundle.File{Path: path, Type: bundle.TypeFile, Mode: bundle.Mode(mode), Size: int64(len(body)), SHA256: sumHex([]byte(body))}
}

func dirRef(path string) bundle.File {
	return bundle.File{Path: path, Type: bundle.TypeDir, Mode: 0o755}
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fixture is one test's identity and folders. parent holds only the
// staging directory and an empty sentinel directory beside it, so any write
// outside the staging directory shows up there.
type fixture struct {
	t        testing.TB
	id       *age.X25519Identity
	parent   string
	dir      string // Options.Dir
	sentinel string
	bundle   string // the bundle folder, elsewhere
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, id)
}

// newFixtureWith is newFixture with a given identity.
func newFixtureWith(t testing.TB, id *age.X25519Identity) *fixture {
	t.Helper()
	parent := t.TempDir()
	fx := &fixture{t: t, id: id, parent: parent, dir: filepath.Join(parent, "stage"), sentinel: filepath.Join(parent, "sentinel"), bundle: t.TempDir()}
	if err := os.Mkdir(fx.sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	return fx
}

// sealOpts shapes the ciphertext.
type sealOpts struct {
	parts    int    // > 1: split into payload.age.001 …
	cut      int    // drop this many bytes from the end of the ciphertext (< 0: cut at the last full age chunk)
	trailing []byte // append these bytes to the ciphertext
	noZstd   bool   // encrypt the plaintext without compressing it
	// compressed, if set, is encrypted in place of the compressed plaintext
	// (the predicate's plaintext size and digest are then those of the tar).
	compressed []byte
}

// seal writes entries as tar → zstd → age to fx.id into the bundle folder
// and returns the predicate describing what was written: part digests,
// plaintext size and digest are true (tests edit them to lie).
func (fx *fixture) seal(entries []entry, o sealOpts) *bundle.Predicate {
	fx.t.Helper()
	return fx.sealStream(func(w io.Writer) error { return writeTar(w, entries) }, len(entries), o)
}

// sealPlain is seal for raw plaintext bytes.
func (fx *fixture) sealPlain(plain []byte, entries int, o sealOpts) *bundle.Predicate {
	fx.t.Helper()
	return fx.sealStream(func(w io.Writer) error { _, err := w.Write(plain); return err }, entries, o)
}

func (fx *fixture) sealStream(write func(io.Writer) error, entries int, o sealOpts) *bundle.Predicate {
	t := fx.t
	t.Helper()
	var ct bytes.Buffer
	aw, err := age.Encrypt(&ct, fx.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zstd.NewWriter(aw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	var compressed io.Writer = zw
	if o.noZstd || o.compressed != nil {
		compressed = aw
		zw.Reset(io.Discard) // nothing reaches age from the unused encoder
	}
	if o.compressed != nil {
		aw.Write(o.compressed)
		compressed = io.Discard
	}
	plain := &counter{h: sha256.New()}
	if err := write(io.MultiWriter(plain, compressed)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	data := ct.Bytes()
	switch {
	case o.cut > 0:
		data = data[:len(data)-o.cut]
	case o.cut < 0:
		data = data[:lastChunkBoundary(t, data)]
	}
	data = append(data, o.trailing...)
	refs := writeParts(t, fx.bundle, data, o.parts)
	return &bundle.Predicate{
		FormatVersion: bundle.FormatVersion,
		Name:          "payments-api",
		Version:       "2.4.1",
		Channel:       "production",
		Payload: bundle.Payload{
			Encryption:      bundle.EncryptionAge,
			Compression:     bundle.CompressionZstd,
			Archive:         bundle.ArchiveTar,
			Parts:           refs,
			Size:            int64(len(data)),
			PlaintextSize:   plain.n,
			PlaintextSHA256: hex.EncodeToString(plain.h.Sum(nil)),
			Entries:         entries,
		},
	}
}

// lastChunkBoundary is the offset of the last full 64 KiB age chunk's end,
// so that cutting there leaves a stream without its final chunk.
func lastChunkBoundary(t testing.TB, ct []byte) int {
	t.Helper()
	i := bytes.Index(ct, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no age header end")
	}
	start := i + 1 + bytes.IndexByte(ct[i+1:], '\n') + 1 + 16 // header, then the 16-byte nonce
	const chunk = 64<<10 + 16
	n := (len(ct) - start - 1) / chunk
	if n < 1 {
		t.Fatal("ciphertext has a single chunk; make the payload larger")
	}
	return start + n*chunk
}

func writeParts(t testing.TB, dir string, data []byte, n int) []bundle.FileRef {
	t.Helper()
	if n <= 1 {
		return []bundle.FileRef{writePart(t, dir, bundle.PayloadFile, data)}
	}
	var refs []bundle.FileRef
	size := (len(data) + n - 1) / n
	for i := 1; i <= n; i++ {
		end := min(size, len(data))
		refs = append(refs, writePart(t, dir, bundle.PartName(i), data[:end]))
		data = data[end:]
	}
	return refs
}

func writePart(t testing.TB, dir, name string, data []byte) bundle.FileRef {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle.FileRef{Name: name, Size: int64(len(data)), SHA256: sumHex(data)}
}

type counter struct {
	h hash.Hash
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// writeTar writes the entries with archive/tar (raw ones as given) and the
// end-of-archive trailer, unless an entry is truncated.
func writeTar(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if e.raw != nil {
			if err := tw.Flush(); err != nil {
				return err
			}
			if _, err := w.Write(e.raw); err != nil {
				return err
			}
			continue
		}
		size := e.size
		if size < 0 {
			size = int64(len(e.body))
			if e.zeros > 0 {
				size = e.zeros
			}
		}
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Size: size, Linkname: e.linkname, ModTime: time.Unix(0, 0)}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if e.truncate {
			_, err := w.Write(e.body) // past the tar writer: it would refuse a short body
			return err
		}
		var body io.Reader = bytes.NewReader(e.body)
		if e.zeros > 0 {
			body = io.LimitReader(zeroReader{}, e.zeros)
		}
		if size > 0 && e.typ == tar.TypeReg {
			if _, err := io.Copy(tw, body); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
		}
	}
	return tw.Close()
}

// runtimeMem samples the bytes allocated so far.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// rawHeader builds one 512-byte tar header block by hand (ustar, or old GNU
// with gnu set), for headers archive/tar will not write.
func rawHeader(name string, typ byte, mode, size int64, linkname string, gnu bool) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], fmt.Sprintf("%07o\x00", mode))
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", 0))
	copy(b[148:156], "        ")
	b[156] = typ
	copy(b[157:257], linkname)
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// paxHeader builds a PAX extended header ('x') entry carrying records, which
// apply to the entry that follows it.
func paxHeader(records ...[2]string) []byte {
	var body []byte
	for _, r := range records {
		rec := " " + r[0] + "=" + r[1] + "\n"
		n := len(rec) + 1 // the length counts its own digits
		for len(fmt.Sprint(n))+len(rec) != n {
			n++
		}
		body = append(body, fmt.Sprintf("%d%s", n, rec)...)
	}
	return append(rawHeader("PaxHeaders/x", tar.TypeXHeader, 0o644, int64(len(body)), "", false), padBlock(body)...)
}

func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// extract opens the bundle folder and runs Extract.
func (fx *fixture) extract(ctx context.Context, p *bundle.Predicate, m *bundle.Manifest, ids ...age.Identity) (*Staged, error) {
	fx.t.Helper()
	return fx.extractWith(ctx, p, m, nil, ids...)
}

// extractWith is extract with a progress reporter.
func (fx *fixture) extractWith(ctx context.Context, p *bundle.Predicate, m *bundle.Manifest, rep progress.Reporter, ids ...age.Identity) (*Staged, error) {
	fx.t.Helper()
	b, err := bundle.Open(fx.bundle)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer b.Close()
	if len(ids) == 0 {
		ids = []age.Identity{fx.id}
	}
	return Extract(ctx, Options{Bundle: b, Predicate: p, Manifest: m, Identities: ids, Dir: fx.dir, Progress: rep})
}

// assertConfined checks that nothing was written beside the staging
// directory: parent holds the sentinel (empty) and, if staged, the staging
// directory only.
func (fx *fixture) assertConfined(staged bool) {
	t := fx.t
	t.Helper()
	want := []string{"sentinel"}
	if staged {
		want = []string{"sentinel", "stage"}
	}
	if got := names(t, fx.parent); !slices.Equal(got, want) {
		t.Errorf("beside the staging directory: %v, want %v", got, want)
	}
	if got := names(t, fx.sentinel); len(got) != 0 {
		t.Errorf("sentinel directory holds %v, want nothing", got)
	}
}

// assertRefused checks a refusal: an *Error naming entry (if not empty)
// whose message contains msg, no staging directory left, nothing outside,
// and no secret in the message.
func (fx *fixture) assertRefused(err error, entry, msg string) {
	t := fx.t
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error", err, err)
	}
	if entry != "" && e.Entry != entry {
		t.Errorf("error %q names entry %q, want %q", err, e.Entry, entry)
	}
	if !strings.Contains(e.Msg, msg) {
		t.Errorf("error %q does not say %q", err, msg)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error %q reveals a variable's value", err)
	}
	fx.assertGone()
}

func (fx *fixture) assertGone() {
	fx.t.Helper()
	if _, err := os.Lstat(fx.dir); !errors.Is(err, os.ErrNotExist) {
		fx.t.Errorf("staging directory left behind (lstat: %v)", err)
	}
	fx.assertConfined(false)
}

func names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// assertStaged checks that the staging directory holds exactly the
// manifest's files, with their content and modes, and no variables.json.
func assertStaged(t testing.TB, dir string, m *bundle.Manifest) {
	t.Helper()
	st, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsDir() || st.Mode().Perm() != 0o700 {
		t.Errorf("staging directory mode %v, want drwx------", st.Mode())
	}
	listed := map[string]bundle.File{}
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		f, ok := listed[rel]
		if !ok {
			t.Errorf("%s: on disk but not in the manifest", rel)
			return nil
		}
		seen++
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		wantType := os.FileMode(0)
		if f.Type == bundle.TypeDir {
			wantType = os.ModeDir
		}
		if info.Mode() != wantType|os.FileMode(f.Mode) {
			t.Errorf("%s: mode %v, want %v", rel, info.Mode(), wantType|os.FileMode(f.Mode))
		}
		if f.Type == bundle.TypeFile {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if sumHex(data) != f.SHA256 || int64(len(data)) != f.Size {
				t.Errorf("%s: content differs from the manifest", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(m.Files) {
		t.Errorf("%d entries on disk, the manifest lists %d", seen, len(m.Files))
	}
}
