// Package bundletest builds real, signed and encrypted bundles for tests:
// keys, a zone identity and a small release in a temporary directory, with
// knobs to re-sign, tamper or mix bundles (a bundle simulator). It is
// imported only by tests.
package bundletest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/progress"
)

// Fixture holds the keys and folders of one test.
type Fixture struct {
	T        testing.TB
	Dir      string
	Release  *keys.Signer
	Approver *keys.Signer
	Other    *keys.Signer // a key nobody trusts
	Identity *age.X25519Identity
	Ledger   string
	// Now is the clock used for issuedAt.
	Now time.Time
}

// New makes keys and an identity in a temp dir.
func New(t testing.TB) *Fixture {
	t.Helper()
	f := &Fixture{T: t, Dir: TempDir(t), Now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	f.Release, f.Approver, f.Other = NewSigner(t), NewSigner(t), NewSigner(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f.Identity = id
	f.Ledger = filepath.Join(f.Dir, "ledger")
	return f
}

// KeepTempEnv, set to 1, makes TempDir leave its folders behind: for a
// test binary run where files cannot be removed (Go's os.RemoveAll fails
// under Wine 8, see apply/wine_test.go), whose runner removes them.
const KeepTempEnv = "AIRLOCK_TEST_KEEP_TEMP"

// TempDir is t.TempDir, or with KeepTempEnv=1 a new folder in the
// system's temporary folder that is not removed.
func TempDir(t testing.TB) string {
	t.Helper()
	if os.Getenv(KeepTempEnv) != "1" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "airlock-test-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// NewSigner makes an unencrypted ECDSA P-256 key.
func NewSigner(t testing.TB) *keys.Signer {
	t.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// DefaultYAML is a small release: one package, a script, variables
// (one sensitive), a deploy with substitution and a rollback step.
const DefaultYAML = `apiVersion: airlock/v1
name: shop
version: 1.0.0
channel: stable
targets: [zone:test]
expires: 24h
change: { ticket: CHG-1, reason: test }
packages:
  - name: web
    path: web
variables:
  Root: { value: /tmp/x }
  Greeting: hello
  Secret: { sensitive: true, fromEnv: SHOP_SECRET }
steps:
  - name: prepare
    run: "echo preparing #{Greeting}"
  - name: install
    deploy: web
    to: "#{Root}"
    substitute: ["conf/*.conf"]
  - name: migrate
    script: scripts/migrate.sh
  - name: undo
    when: failure
    run: echo undo
`

// Files is the content of the default release, path → content.
func Files() map[string]string {
	return map[string]string{
		"web/index.html":     "<p>hello</p>\n",
		"web/conf/app.conf":  "greeting=#{Greeting}\nsecret=#{Secret}\n",
		"web/bin/run":        "#!/bin/sh\necho run\n",
		"scripts/migrate.sh": "#!/bin/sh\necho migrating\n",
	}
}

// WriteRelease writes airlock.yaml and files into a new release folder and
// returns its path. Files whose path contains "bin/" or ends in .sh are
// executable. big, if positive, adds web/blob.bin of that many random bytes.
func (f *Fixture) WriteRelease(yaml string, files map[string]string, big int) string {
	f.T.Helper()
	dir, err := os.MkdirTemp(f.Dir, "release-*")
	if err != nil {
		f.T.Fatal(err)
	}
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.T.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.Contains(rel, "bin/") || strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			f.T.Fatal(err)
		}
	}
	write("airlock.yaml", []byte(yaml))
	for rel, content := range files {
		write(rel, []byte(content))
	}
	if big > 0 {
		b := make([]byte, big)
		rand.Read(b)
		write("web/blob.bin", b)
	}
	return dir
}

// WriteZone writes a zone for this fixture into dir: its identity, a new
// receipt key, the release key as the only trusted key, and a trust.yaml
// for zone "test" on host "host1" with state in dir/state, followed by
// extra (more trust.yaml keys, such as a variables: block). It returns the
// path of trust.yaml.
func (f *Fixture) WriteZone(dir, extra string) string {
	f.T.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		f.T.Fatal(err)
	}
	for _, w := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"zone.agekey", []byte(f.Identity.String() + "\n"), 0o600},
		{"receipt.key", priv, 0o600},
		{"release.pub", f.Release.Public().PEM(), 0o644},
		{"trust.yaml", []byte(`apiVersion: airlock/v1
zone: test
host: host1
roles:
  release: { threshold: 1, keys: [release.pub] }
identities: [zone.agekey]
receipts: { key: receipt.key }
state: state
` + extra), 0o644},
	} {
		if err := os.WriteFile(filepath.Join(dir, w.name), w.data, w.mode); err != nil {
			f.T.Fatal(err)
		}
	}
	return filepath.Join(dir, "trust.yaml")
}

// Options tweak Build.
type Options struct {
	YAML     string            // default DefaultYAML
	Files    map[string]string // default Files()
	Big      int               // bytes of random data to add
	Out      string            // default <tmp>/b-N (folder)
	Split    int64
	Sequence uint64
	Signers  []*keys.Signer // default Release; extra signers are added after
	Secret   string         // value of SHOP_SECRET, default "canary-s3cret-value"
	Epoch    time.Time
	Targets  []string
	Expires  time.Duration // overrides the release's expires when set
	Progress progress.Reporter
	Base     *bundle.Base // a delta build's base
}

// Build builds a bundle and returns its path and result.
func (f *Fixture) Build(o Options) (string, *bundle.BuildResult) {
	f.T.Helper()
	if o.YAML == "" {
		o.YAML = DefaultYAML
	}
	if o.Files == nil {
		o.Files = Files()
	}
	if o.Secret == "" {
		o.Secret = "canary-s3cret-value"
	}
	if o.Out == "" {
		out, err := os.MkdirTemp(f.Dir, "b-*")
		if err != nil {
			f.T.Fatal(err)
		}
		os.Remove(out)
		o.Out = out
	}
	dir := f.WriteRelease(o.YAML, o.Files, o.Big)
	rel, err := bundle.LoadRelease(dir)
	if err != nil {
		f.T.Fatal(err)
	}
	if o.Expires != 0 {
		rel.Expires = o.Expires
	}
	signers := o.Signers
	if signers == nil {
		signers = []*keys.Signer{f.Release}
	}
	res, err := bundle.Build(context.Background(), bundle.BuildOptions{
		Release: rel, Signer: signers[0], Recipients: []age.Recipient{f.Identity.Recipient()},
		Out: o.Out, Sequence: o.Sequence, SplitSize: o.Split, LedgerDir: f.Ledger,
		Epoch: o.Epoch, Targets: o.Targets, Now: func() time.Time { return f.Now }, Progress: o.Progress, Base: o.Base,
		Getenv: func(k string) string {
			if k == "SHOP_SECRET" {
				return o.Secret
			}
			return ""
		},
	})
	if err != nil {
		f.T.Fatal(err)
	}
	for _, s := range signers[1:] {
		if _, err := bundle.AddSignature(context.Background(), o.Out, s); err != nil {
			f.T.Fatal(err)
		}
	}
	return o.Out, res
}

// Resign replaces a folder bundle's statement with one whose statement was
// changed by edit and that is signed by the given signers (a malicious or
// mistaken signer: everything it signs verifies).
func (f *Fixture) Resign(dir string, edit func(st *bundle.Statement), signers ...*keys.Signer) {
	f.T.Helper()
	st := f.Statement(dir)
	edit(st)
	payload, err := json.Marshal(st)
	if err != nil {
		f.T.Fatal(err)
	}
	f.WriteEnvelope(dir, dsse.InTotoPayloadType, payload, signers...)
}

// WriteEnvelope signs payload and writes it as the statement of dir.
func (f *Fixture) WriteEnvelope(dir, payloadType string, payload []byte, signers ...*keys.Signer) {
	f.T.Helper()
	env, err := dsse.Sign(payloadType, payload, signers...)
	if err != nil {
		f.T.Fatal(err)
	}
	b, err := dsse.Marshal(env)
	if err != nil {
		f.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.StatementFile), b, 0o644); err != nil {
		f.T.Fatal(err)
	}
}

// Statement decodes a folder bundle's statement without verifying it.
func (f *Fixture) Statement(dir string) *bundle.Statement {
	f.T.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, bundle.StatementFile))
	if err != nil {
		f.T.Fatal(err)
	}
	env, err := dsse.Read(strings.NewReader(string(raw)), bundle.MaxStatementSize)
	if err != nil {
		f.T.Fatal(err)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		f.T.Fatal(err)
	}
	st, err := bundle.ParseStatement(payload)
	if err != nil {
		f.T.Fatal(err)
	}
	return st
}

// FlipByte inverts one byte of a file at offset off (negative: from the end).
func FlipByte(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Entry is one entry of an archive made by Zip or Tar.
type Entry struct {
	Name string
	Body string
	// Type is a tar type flag (tar.TypeReg when 0); Zip makes a symbolic
	// link of tar.TypeSymlink and a directory of tar.TypeDir, and refuses
	// any other.
	Type byte
	Mode int64  // permission bits; 0644 (0755 for directories) when 0
	Link string // target of a link
}

// Tar returns a tar archive of entries, in order, as given (names are not
// checked: tests make malicious archives with it).
func Tar(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ, mode := e.Type, e.Mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.Name, Typeflag: typ, Mode: mode, Linkname: e.Link, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TarGz returns Tar(entries) compressed with gzip.
func TarGz(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	return compress(t, func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil }, Tar(t, entries...))
}

// TarZst returns Tar(entries) compressed with zstd.
func TarZst(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	return compress(t, func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) }, Tar(t, entries...))
}

// compress returns data written through the writer newWriter makes.
func compress(t testing.TB, newWriter func(io.Writer) (io.WriteCloser, error), data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := newWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Zip returns a zip archive of entries, in order, as given.
func Zip(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		mode := fs.FileMode(e.Mode)
		switch e.Type {
		case 0, tar.TypeReg:
			if mode == 0 {
				mode = 0o644
			}
		case tar.TypeDir:
			mode |= fs.ModeDir | 0o755
		case tar.TypeSymlink:
			mode, e.Body = fs.ModeSymlink|0o777, e.Link
		default:
			t.Fatalf("zip entry %s: type %q is not supported", e.Name, e.Type)
		}
		hdr.SetMode(mode)
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
