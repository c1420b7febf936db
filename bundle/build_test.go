package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/progress/progresstest"
)

const canary = "canary-s3cret-value"

// TestRoundTrip builds a bundle, then decrypts and unpacks its payload the
// long way and checks it holds exactly what the manifest lists.
func TestRoundTrip(t *testing.T) {
	f := bundletest.New(t)
	dir, res := f.Build(bundletest.Options{Big: 5 << 19, Split: 1 << 20})
	m := readManifest(t, dir)
	p := res.Statement.Predicate
	if p.Manifest.SHA256 != sumFile(t, filepath.Join(dir, bundle.ManifestFile)) {
		t.Error("manifest.json digest differs from the statement's")
	}
	if len(p.Payload.Parts) != 3 {
		t.Fatalf("%d parts, want 3", len(p.Payload.Parts))
	}
	var parts []io.Reader
	for _, part := range p.Payload.Parts {
		fh, err := os.Open(filepath.Join(dir, part.Name))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		parts = append(parts, fh)
	}
	ar, err := age.Decrypt(io.MultiReader(parts...), f.Identity)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(ar)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(zr, h))
	hdr, err := tr.Next()
	if err != nil || hdr.Name != bundle.VariablesEntry {
		t.Fatalf("first entry %v, %v; want %s", hdr, err, bundle.VariablesEntry)
	}
	vars, _ := io.ReadAll(tr)
	if !bytes.Contains(vars, []byte(canary)) {
		t.Error("variables.json does not hold the sensitive value")
	}
	if sum := sha256.Sum256(vars); hex.EncodeToString(sum[:]) != m.VariablesFile.SHA256 {
		t.Error("variables.json digest differs from the manifest")
	}
	for i, want := range m.Files {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if name != want.Path || hdr.Size != want.Size || hdr.Mode != int64(want.Mode) || hdr.ModTime.Unix() != 0 || hdr.Uid != 0 {
			t.Fatalf("entry %d: %s size %d mode %o mtime %v, want %+v", i, hdr.Name, hdr.Size, hdr.Mode, hdr.ModTime, want)
		}
		data, _ := io.ReadAll(tr)
		if want.Type == bundle.TypeFile {
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != want.SHA256 {
				t.Fatalf("%s: digest differs from the manifest", want.Path)
			}
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("extra entry after the manifest's files: %v", err)
	}
	io.Copy(io.Discard, zr)
	if hex.EncodeToString(h.Sum(nil)) != p.Payload.PlaintextSHA256 {
		t.Error("plaintext digest differs from the statement")
	}
	if p.Payload.Entries != len(m.Files)+1 {
		t.Errorf("entries %d, want %d", p.Payload.Entries, len(m.Files)+1)
	}
}

// TestDeterministic: the same inputs, key and epoch give a byte-identical
// manifest and the same plaintext digest; another epoch changes only the
// plaintext digest.
// TestBuildProgress: the build reports one stage, build, whose total is
// the bytes of the release's files, every one of which is added as read.
func TestBuildProgress(t *testing.T) {
	f := bundletest.New(t)
	var rec progresstest.Recorder
	dir, _ := f.Build(bundletest.Options{Big: 3 << 20, Progress: &rec})
	var size int64
	for _, file := range readManifest(t, dir).Files {
		size += file.Size
	}
	want := []progresstest.Stage{{Name: "build", Total: size, Done: size}}
	if got := rec.Stages(); !reflect.DeepEqual(got, want) || size < 3<<20 {
		t.Errorf("stages %+v, want %+v", got, want)
	}
}

func TestDeterministic(t *testing.T) {
	f := bundletest.New(t)
	epoch := time.Unix(1700000000, 0)
	files := bundletest.Files()
	files["web/data.bin"] = strings.Repeat("airlock ", 100000)
	build := func(e time.Time) ([]byte, string) {
		dir, res := f.Build(bundletest.Options{Files: files, Epoch: e})
		m, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		return m, res.Statement.Predicate.Payload.PlaintextSHA256
	}
	m1, p1 := build(epoch)
	m2, p2 := build(epoch)
	if !bytes.Equal(m1, m2) || p1 != p2 {
		t.Fatal("two builds of the same inputs differ")
	}
	m3, p3 := build(epoch.Add(time.Hour))
	if !bytes.Equal(m1, m3) || p1 == p3 {
		t.Fatal("the epoch should change the plaintext digest only")
	}
}

// TestNoSecretOutsidePayload: a sensitive value never appears in the
// public files of a bundle or in the ledger.
func TestNoSecretOutsidePayload(t *testing.T) {
	f := bundletest.New(t)
	dir, res := f.Build(bundletest.Options{})
	for _, name := range []string{bundle.StatementFile, bundle.ManifestFile, bundle.SumsFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(canary)) {
			t.Errorf("%s holds the sensitive value", name)
		}
	}
	ledger, err := os.ReadFile(res.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ledger, []byte(canary)) {
		t.Error("ledger holds the sensitive value")
	}
	if !bytes.Equal(ledger, res.Envelope) {
		t.Error("ledger copy differs from the bundle's statement")
	}
}

func TestSequenceFromLedger(t *testing.T) {
	f := bundletest.New(t)
	_, r1 := f.Build(bundletest.Options{})
	_, r2 := f.Build(bundletest.Options{})
	_, r3 := f.Build(bundletest.Options{Sequence: 10})
	_, r4 := f.Build(bundletest.Options{})
	got := []uint64{r1.Statement.Predicate.Sequence, r2.Statement.Predicate.Sequence, r3.Statement.Predicate.Sequence, r4.Statement.Predicate.Sequence}
	want := []uint64{1, 2, 10, 11}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sequences %v, want %v", got, want)
		}
	}
}

func TestSplitBoundaries(t *testing.T) {
	f := bundletest.New(t)
	for _, split := range []int64{1 << 20, 1<<20 + 1} {
		dir, res := f.Build(bundletest.Options{Big: 2 << 20, Split: split})
		var total int64
		for _, part := range res.Statement.Predicate.Payload.Parts {
			st, err := os.Stat(filepath.Join(dir, part.Name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > split || st.Size() != part.Size {
				t.Fatalf("split %d: %s is %d bytes (signed %d)", split, part.Name, st.Size(), part.Size)
			}
			total += st.Size()
		}
		if total != res.Statement.Predicate.Payload.Size {
			t.Fatalf("parts add to %d, payload %d", total, res.Statement.Predicate.Payload.Size)
		}
	}
}

func TestBuildRefusesExistingOutput(t *testing.T) {
	f := bundletest.New(t)
	out := filepath.Join(t.TempDir(), "x.airlock")
	f.Build(bundletest.Options{Out: out})
	before, _ := os.ReadFile(out)
	rel, err := bundle.LoadRelease(f.WriteRelease(bundletest.DefaultYAML, bundletest.Files(), 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = bundle.Build(t.Context(), bundle.BuildOptions{Release: rel, Signer: f.Release,
		Recipients: []age.Recipient{f.Identity.Recipient()}, Out: out, LedgerDir: f.Ledger,
		Getenv: func(string) string { return canary }})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(out)
	if !bytes.Equal(before, after) {
		t.Fatal("existing output changed")
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

// readManifest reads and validates a bundle folder's manifest.json.
func readManifest(t *testing.T, dir string) *bundle.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sumFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestBuildFileChanged: a file that changes between the release check and
// the build (grown, shrunk, replaced by a FIFO or a directory) fails the
// build, naming it, and leaves no bundle.
func TestBuildFileChanged(t *testing.T) {
	f := bundletest.New(t)
	for _, tt := range []struct {
		name   string
		change func(p string) error
		msg    string
	}{
		{"grown", func(p string) error { return os.WriteFile(p, []byte("<p>hello, longer</p>\n"), 0o644) }, "changed while building (was a regular file of 13 bytes)"},
		{"shrunk", func(p string) error { return os.WriteFile(p, []byte("<p>"), 0o644) }, "changed while building"},
		{"directory", func(p string) error { os.Remove(p); return os.Mkdir(p, 0o755) }, "changed while building"},
		{"fifo", func(p string) error { os.Remove(p); return mkfifo(p) }, "changed while building"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := f.WriteRelease(bundletest.DefaultYAML, bundletest.Files(), 3<<20)
			rel, err := bundle.LoadRelease(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(filepath.Join(dir, "web", "index.html")); err != nil {
				t.Skip(err)
			}
			out := filepath.Join(t.TempDir(), "b")
			_, err = bundle.Build(context.Background(), bundle.BuildOptions{
				Release: rel, Signer: f.Release, Recipients: []age.Recipient{f.Identity.Recipient()},
				Out: out, LedgerDir: f.Ledger, Getenv: func(string) string { return "secret-value" },
			})
			if err == nil || !strings.Contains(err.Error(), "web/index.html") || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %q about web/index.html", err, tt.msg)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed build", out)
			}
		})
	}
}
