package stage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/progress/progresstest"
)

func TestExtractHappyPath(t *testing.T) {
	fx := newFixture(t)
	es := happyEntries()
	m := manifestFor(es)
	if err := m.Validate(); err != nil {
		t.Fatalf("test manifest is not one verify would accept: %v", err)
	}
	p := fx.seal(es, sealOpts{})
	st, err := fx.extract(context.Background(), p, m)
	if err != nil {
		t.Fatal(err)
	}
	if st.Root != fx.dir {
		t.Errorf("Root %q, want %q", st.Root, fx.dir)
	}
	want := &bundle.VariablesDoc{Salt: "5a17", Values: map[string]string{"DbPassword": canary, "Port": "8080"}}
	if !reflect.DeepEqual(st.Variables, want) {
		t.Errorf("variables %+v, want %+v", st.Variables, want)
	}
	assertStaged(t, fx.dir, m)
	if _, err := os.Lstat(filepath.Join(fx.dir, bundle.VariablesEntry)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("variables.json written to disk (lstat: %v)", err)
	}
	fx.assertConfined(true)
}

func TestExtractMultiPart(t *testing.T) {
	fx := newFixture(t)
	es := append(happyEntries(), reg("scripts/noise.bin", 0o644, string(noise(200<<10))))
	m := manifestFor(es)
	p := fx.seal(es, sealOpts{parts: 3})
	if len(p.Payload.Parts) != 3 || p.Payload.Parts[2].Name != "payload.age.003" {
		t.Fatalf("parts %+v, want 3", p.Payload.Parts)
	}
	if _, err := fx.extract(context.Background(), p, m); err != nil {
		t.Fatal(err)
	}
	assertStaged(t, fx.dir, m)
	fx.assertConfined(true)
}

// TestExtractProgress: the extraction reports one stage, decrypt, whose
// total is the payload's size and to which every byte read of every part
// is added.
func TestExtractProgress(t *testing.T) {
	fx := newFixture(t)
	es := append(happyEntries(), reg("scripts/noise.bin", 0o644, string(noise(200<<10))))
	m := manifestFor(es)
	p := fx.seal(es, sealOpts{parts: 3})
	var rec progresstest.Recorder
	if _, err := fx.extractWith(context.Background(), p, m, &rec); err != nil {
		t.Fatal(err)
	}
	want := []progresstest.Stage{{Name: "decrypt", Total: p.Payload.Size, Done: p.Payload.Size}}
	if got := rec.Stages(); !reflect.DeepEqual(got, want) {
		t.Errorf("stages %+v, want %+v", got, want)
	}
}

func TestExtractMultiPartChanged(t *testing.T) {
	for _, part := range []string{"payload.age.001", "payload.age.002", "payload.age.003"} {
		t.Run(part, func(t *testing.T) {
			fx := newFixture(t)
			es := append(happyEntries(), reg("scripts/noise.bin", 0o644, string(noise(200<<10))))
			p := fx.seal(es, sealOpts{parts: 3})
			flipByte(t, filepath.Join(fx.bundle, part), 0.5)
			_, err := fx.extract(context.Background(), p, manifestFor(es))
			fx.assertRefused(err, part, "changed since verification")
		})
	}
}

func TestExtractWrongIdentity(t *testing.T) {
	fx := newFixture(t)
	es := happyEntries()
	p := fx.seal(es, sealOpts{})
	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, err = fx.extract(context.Background(), p, manifestFor(es), other)
	if !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("got %v, want ErrNoIdentity", err)
	}
	var nomatch *age.NoIdentityMatchError
	if !errors.As(err, &nomatch) {
		t.Errorf("%v does not wrap *age.NoIdentityMatchError", err)
	}
	fx.assertGone()
}

// refusal is a payload that does not match what was signed.
type refusal struct {
	name   string
	edit   func(fx *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest)
	seal   sealOpts
	lie    func(p *bundle.Predicate)         // after sealing: a false predicate
	tamper func(t testing.TB, bundle string) // after sealing: the media changes
	entry  string                            // Error.Entry; "" for any
	msg    string                            // in Error.Msg
}

func TestExtractRefusals(t *testing.T) {
	const script = "scripts/migrate.sh"
	scriptBody := "#!/bin/sh\nexit 0\n"
	// tarOnly replaces the entry named name in the archive, not in the manifest.
	tarOnly := func(name string, e entry) func(*fixture, []entry, *bundle.Manifest) ([]entry, *bundle.Manifest) {
		return func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return replace(es, name, e), m
		}
	}
	// both replaces the entry in the archive and lists the new one instead.
	both := func(name string, e entry) func(*fixture, []entry, *bundle.Manifest) ([]entry, *bundle.Manifest) {
		return func(_ *fixture, es []entry, _ *bundle.Manifest) ([]entry, *bundle.Manifest) {
			es = replace(es, name, e)
			return es, manifestFor(es)
		}
	}
	link := func(name string, typ byte, target string) entry {
		return entry{name: name, typ: typ, mode: 0o777, linkname: target}
	}
	vars := func(body string) func(*fixture, []entry, *bundle.Manifest) ([]entry, *bundle.Manifest) {
		return both(bundle.VariablesEntry, varsEntry([]byte(body)))
	}
	sparseBody := padBlock([]byte("1\n0\n" + strconv.Itoa(len(scriptBody)) + "\n"))
	sparseBody = append(sparseBody, padBlock([]byte(scriptBody))...)

	cases := []refusal{
		// Names and paths (threat 13).
		{name: "dot-dot entry", edit: tarOnly(script, reg("../x", 0o755, scriptBody)), entry: "../x", msg: `found where the manifest lists "scripts/migrate.sh"`},
		{name: "dot-dot listed", edit: both(script, reg("../x", 0o755, scriptBody)), entry: "../x", msg: "manifest path rules"},
		{name: "absolute path into the sentinel", edit: func(fx *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return replace(es, script, reg(fx.sentinel+"/x", 0o755, scriptBody)), m
		}, msg: "found where the manifest lists"},
		{name: "absolute /etc path listed", edit: both(script, reg("/etc/airlock-stage-escape", 0o755, scriptBody)), entry: "/etc/airlock-stage-escape", msg: "is absolute"},
		{name: "a/../../b entry", edit: tarOnly(script, reg("a/../../b", 0o755, scriptBody)), entry: "a/../../b", msg: "found where"},
		{name: "a/../../b listed", edit: both(script, reg("a/../../b", 0o755, scriptBody)), entry: "a/../../b", msg: "manifest path rules"},
		{name: "backslash listed", edit: both(script, reg(`..\x`, 0o755, scriptBody)), msg: "manifest path rules"},
		{name: "control character in a name", edit: tarOnly(script, reg("scripts/\x1b[2Jx", 0o755, scriptBody)), entry: `"scripts/\x1b[2Jx"`, msg: "found where"},
		{name: "PAX path record", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return insertBefore(es, script, rawEntry(paxHeader([2]string{"path", "../x"}))), m
		}, entry: "../x", msg: "found where"},

		// Links, devices, sparse files (threats 14, 15).
		{name: "symlink to /etc", edit: tarOnly(script, link(script, tar.TypeSymlink, "/etc")), entry: script, msg: `is a symbolic link to "/etc"`},
		{name: "symlink to ../..", edit: tarOnly(script, link(script, tar.TypeSymlink, "../..")), entry: script, msg: `is a symbolic link to "../.."`},
		{name: "symlink for a directory", edit: tarOnly("packages/app/bin/", link("packages/app/bin", tar.TypeSymlink, "../../../sentinel")), entry: "packages/app/bin", msg: "the manifest lists a directory"},
		{name: "hardlink to /etc/passwd", edit: tarOnly(script, link(script, tar.TypeLink, "/etc/passwd")), entry: script, msg: `is a hard link to "/etc/passwd"`},
		{name: "hardlink to an earlier entry", edit: tarOnly(script, link(script, tar.TypeLink, "packages/app/config.json")), entry: script, msg: "is a hard link"},
		{name: "regular file with a link target", edit: tarOnly(script, entry{name: script, typ: tar.TypeReg, mode: 0o755, size: -1, body: []byte(scriptBody), linkname: "/etc/passwd"}), entry: script, msg: "has a link target"},
		{name: "PAX linkpath record", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return insertBefore(es, script, rawEntry(paxHeader([2]string{"linkpath", "/etc/shadow"}))), m
		}, entry: script, msg: "has a link target"},
		{name: "character device", edit: tarOnly(script, entry{name: script, typ: tar.TypeChar, mode: 0o666}), entry: script, msg: "is a character device"},
		{name: "block device", edit: tarOnly(script, entry{name: script, typ: tar.TypeBlock, mode: 0o660}), entry: script, msg: "is a block device"},
		{name: "FIFO", edit: tarOnly(script, entry{name: script, typ: tar.TypeFifo, mode: 0o644}), entry: script, msg: "is a FIFO"},
		{name: "GNU sparse (old format)", edit: tarOnly(script, rawEntry(rawHeader(script, tar.TypeGNUSparse, 0o755, 0, "", true))), entry: script, msg: "GNU sparse"},
		{name: "GNU sparse (PAX format)", edit: tarOnly(script, rawEntry(append(append(paxHeader(
			[2]string{"GNU.sparse.major", "1"}, [2]string{"GNU.sparse.minor", "0"},
			[2]string{"GNU.sparse.name", script}, [2]string{"GNU.sparse.realsize", strconv.Itoa(len(scriptBody))}),
			rawHeader("GNUSparseFile.0/migrate.sh", tar.TypeReg, 0o755, int64(512+len(scriptBody)), "", false)...), sparseBody...))),
			entry: script, msg: "sparse"},
		{name: "PAX global header", edit: tarOnly(script, rawEntry(append(rawHeader(script, tar.TypeXGlobalHeader, 0o644, 12, "", false), padBlock([]byte("12 comment=\n"))...))), entry: script, msg: "is a PAX global header"},
		{name: "PAX header over 1 MiB", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return insertBefore(es, script, rawEntry(paxHeader([2]string{"comment", strings.Repeat("x", 2<<20)}))), m
		}, entry: script, msg: "reading its tar header"},

		// Types, order, duplicates, extra and missing entries (threats 10, 19).
		{name: "file where the manifest lists a directory", edit: tarOnly("packages/app/bin/", reg("packages/app/bin", 0o755, "")), entry: "packages/app/bin", msg: "is a regular file, the manifest lists a directory"},
		{name: "directory where the manifest lists a file", edit: tarOnly(script, dirEntry(script)), entry: script + "/", msg: "is a directory, the manifest lists a regular file"},
		{name: "directory with a size", edit: tarOnly("scripts/", entry{name: "scripts/", typ: tar.TypeDir, mode: 0o755, size: 5}), entry: "scripts/", msg: "size 5 bytes, the manifest says 0"},
		{name: "entries out of order", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			i, j := index(es, "packages/app/config.json"), index(es, "packages/app/empty")
			es[i], es[j] = es[j], es[i]
			return es, m
		}, entry: "packages/app/empty", msg: `found where the manifest lists "packages/app/config.json"`},
		{name: "duplicate entry", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return insertBefore(es, "packages/app/empty", es[index(es, "packages/app/config.json")]), m
		}, entry: "packages/app/config.json", msg: `found where the manifest lists "packages/app/empty"`},
		{name: "duplicate file listed", edit: func(_ *fixture, es []entry, _ *bundle.Manifest) ([]entry, *bundle.Manifest) {
			es = insertBefore(es, "packages/app/empty", es[index(es, "packages/app/config.json")])
			return es, manifestFor(es)
		}, entry: "packages/app/config.json", msg: "already exists"},
		{name: "duplicate directory listed", edit: func(_ *fixture, es []entry, _ *bundle.Manifest) ([]entry, *bundle.Manifest) {
			es = insertBefore(es, "scripts/", dirEntry("packages"))
			return es, manifestFor(es)
		}, entry: "packages", msg: "already exists"},
		{name: "extra entry at the end", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return append(es, reg("extra", 0o644, "x")), m
		}, entry: "extra", msg: "not in the manifest"},
		{name: "extra symlink at the end", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return append(es, link("evil", tar.TypeSymlink, "/etc")), m
		}, entry: "evil", msg: "not in the manifest"},
		{name: "missing entry", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return es[:len(es)-1], m
		}, entry: script, msg: "missing: the archive ends"},

		// Sizes, content, modes (threats 16, 18).
		{name: "header size differs", edit: tarOnly("packages/app/config.json", reg("packages/app/config.json", 0o644, `{"port":"#{Port}"} `)), entry: "packages/app/config.json", msg: "size 19 bytes, the manifest says 18"},
		{name: "content differs", edit: tarOnly("packages/app/config.json", reg("packages/app/config.json", 0o644, `{"port":"#{Evil}"}`)), entry: "packages/app/config.json", msg: "sha256"},
		{name: "body truncated", edit: func(_ *fixture, es []entry, _ *bundle.Manifest) ([]entry, *bundle.Manifest) {
			es = replace(es, script, reg(script, 0o755, "0123456789"))
			m := manifestFor(es)
			es[len(es)-1] = entry{name: script, typ: tar.TypeReg, mode: 0o755, size: 10, body: []byte("012"), truncate: true}
			return es, m
		}, entry: script, msg: "content ends after 3 of 10 bytes"},
		{name: "body truncated mid-archive", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			i := index(es, "packages/app/config.json")
			es[i] = entry{name: es[i].name, typ: tar.TypeReg, mode: 0o644, size: int64(len(es[i].body)), body: es[i].body[:5], truncate: true}
			return es, m
		}, entry: "packages/app/config.json", msg: "content ends after 5 of 18 bytes"},
		{name: "setuid", edit: tarOnly("packages/app/bin/run", entry{name: "packages/app/bin/run", typ: tar.TypeReg, mode: 0o4755, size: -1, body: []byte("#!/bin/sh\necho run\n")}), entry: "packages/app/bin/run", msg: "setuid"},
		{name: "setgid", edit: tarOnly("packages/app/bin/run", entry{name: "packages/app/bin/run", typ: tar.TypeReg, mode: 0o2755, size: -1, body: []byte("#!/bin/sh\necho run\n")}), entry: "packages/app/bin/run", msg: "setgid"},
		{name: "sticky directory", edit: tarOnly("scripts/", entry{name: "scripts/", typ: tar.TypeDir, mode: 0o1777}), entry: "scripts/", msg: "sticky"},
		{name: "file-type bits in the mode", edit: tarOnly("packages/app/config.json", entry{name: "packages/app/config.json", typ: tar.TypeReg, mode: 0o100644, size: -1, body: []byte(`{"port":"#{Port}"}`)}), entry: "packages/app/config.json", msg: "file-type bits"},
		{name: "mode differs", edit: tarOnly("packages/app/bin/run", reg("packages/app/bin/run", 0o644, "#!/bin/sh\necho run\n")), entry: "packages/app/bin/run", msg: "mode 0644, the manifest says 0755"},
		{name: "world-writable mode listed", edit: both("packages/app/bin/run", reg("packages/app/bin/run", 0o777, "#!/bin/sh\necho run\n")), entry: "packages/app/bin/run", msg: "manifest rules do not allow"},

		// variables.json.
		{name: "empty archive", edit: func(_ *fixture, _ []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			return nil, m
		}, entry: bundle.VariablesEntry, msg: "missing"},
		{name: "variables.json absent", edit: func(_ *fixture, es []entry, _ *bundle.Manifest) ([]entry, *bundle.Manifest) {
			m := manifestFor(es)
			return es[1:], m
		}, entry: "packages/", msg: "is the first entry; the payload must start with variables.json"},
		{name: "variables.json not first", edit: func(_ *fixture, es []entry, m *bundle.Manifest) ([]entry, *bundle.Manifest) {
			es[0], es[1] = es[1], es[0]
			return es, m
		}, entry: "packages/", msg: "is the first entry"},
		{name: "variables.json oversized", edit: vars(`{"salt":"` + strings.Repeat("a", bundle.MaxVariablesSize) + `","values":{}}`), entry: bundle.VariablesEntry, msg: "at most 4194304 allowed"},
		{name: "variables.json larger than listed", edit: tarOnly(bundle.VariablesEntry, varsEntry([]byte(strings.Replace(string(testVarsJSON), "8080", "80800", 1)))), entry: bundle.VariablesEntry, msg: "the manifest says"},
		{name: "variables.json content differs", edit: tarOnly(bundle.VariablesEntry, varsEntry([]byte(strings.Replace(string(testVarsJSON), "8080", "9090", 1)))), entry: bundle.VariablesEntry, msg: "sha256"},
		{name: "variables.json bad JSON", edit: vars(`{"values":{"DbPassword":"` + canary + `"`), entry: bundle.VariablesEntry, msg: "invalid JSON"},
		{name: "variables.json wrong type", edit: vars(`{"salt":"a","values":{"Pin":918273645}}`), entry: bundle.VariablesEntry, msg: "details withheld"},
		{name: "variables.json duplicate key", edit: vars(`{"salt":"a","values":{"DbPassword":"` + canary + `","DbPassword":"x"}}`), entry: bundle.VariablesEntry, msg: "details withheld"},
		{name: "variables.json unknown field", edit: vars(`{"salt":"a","values":{},"extra":"` + canary + `"}`), entry: bundle.VariablesEntry, msg: "details withheld"},
		{name: "variables.json trailing data", edit: vars(`{"salt":"a","values":{}} {"x":1}`), entry: bundle.VariablesEntry, msg: "details withheld"},
		{name: "variables.json as a symlink", edit: tarOnly(bundle.VariablesEntry, link(bundle.VariablesEntry, tar.TypeSymlink, "/etc/shadow")), entry: bundle.VariablesEntry, msg: "is a symbolic link"},

		// The streams (threats 7, 17).
		{name: "plaintext digest differs", lie: func(p *bundle.Predicate) { p.Payload.PlaintextSHA256 = strings.Repeat("0", 64) }, entry: entryPlaintext, msg: "sha256"},
		{name: "plaintext larger than signed", lie: func(p *bundle.Predicate) { p.Payload.PlaintextSize-- }, entry: entryPlaintext, msg: "larger than the signed plaintext size"},
		{name: "plaintext smaller than signed", lie: func(p *bundle.Predicate) { p.Payload.PlaintextSize++ }, entry: entryPlaintext, msg: "signed plaintext size"},
		{name: "part changed after verification", tamper: func(t testing.TB, dir string) {
			flipByte(t, filepath.Join(dir, bundle.PayloadFile), 0.8)
		}, entry: bundle.PayloadFile, msg: "sha256"},
		{name: "part header changed after verification", tamper: func(t testing.TB, dir string) {
			flipByte(t, filepath.Join(dir, bundle.PayloadFile), 0.1)
		}, entry: bundle.PayloadFile, msg: "changed since verification"},
		{name: "part truncated after verification", tamper: func(t testing.TB, dir string) {
			path := filepath.Join(dir, bundle.PayloadFile)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, st.Size()-1); err != nil {
				t.Fatal(err)
			}
		}, entry: bundle.PayloadFile, msg: "signed size"},
		{name: "part removed after verification", tamper: func(t testing.TB, dir string) {
			if err := os.Remove(filepath.Join(dir, bundle.PayloadFile)); err != nil {
				t.Fatal(err)
			}
		}, entry: bundle.PayloadFile, msg: "missing"},
		{name: "age stream truncated", seal: sealOpts{cut: 10}, entry: entryCiphertext, msg: "age: "},
		{name: "age stream without its final chunk", edit: both("packages/app/config.json", reg("packages/app/config.json", 0o644, string(noise(300<<10)))),
			seal: sealOpts{cut: -1}, entry: entryCiphertext, msg: "unexpected EOF"},
		{name: "data after the age stream", seal: sealOpts{trailing: []byte("more")}, entry: entryCiphertext, msg: "age: "},
		{name: "not zstd", seal: sealOpts{noZstd: true}, entry: entryCompressed, msg: "zstd: "},
		// A frame declaring a 64 MiB window (descriptor 0x80: 2^(10+16)) and
		// holding one empty last raw block.
		{name: "zstd window over the cap", seal: sealOpts{compressed: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x80, 0x01, 0x00, 0x00}}, entry: entryCompressed, msg: "window"},
		{name: "zstd frame cut short", seal: sealOpts{compressed: []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48, 0x01}}, entry: entryCompressed, msg: "zstd: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			es := happyEntries()
			m := manifestFor(es)
			if c.edit != nil {
				es, m = c.edit(fx, es, m)
			}
			p := fx.seal(es, c.seal)
			if c.lie != nil {
				c.lie(p)
			}
			if c.tamper != nil {
				c.tamper(t, fx.bundle)
			}
			_, err := fx.extract(context.Background(), p, m)
			t.Log(err)
			fx.assertRefused(err, c.entry, c.msg)
			if strings.Contains(err.Error(), "918273645") {
				t.Errorf("error %q reveals a variable's value", err)
			}
		})
	}
	if _, err := os.Lstat("/etc/airlock-stage-escape"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/etc/airlock-stage-escape exists (lstat: %v)", err)
	}
}

// TestExtractEndOfArchive: the archive must end exactly at its
// end-of-archive marker, at the end of the signed plaintext. A signer
// cannot hide a second archive (which other tar readers might extract) or
// any other bytes after it, nor leave the marker out.
func TestExtractEndOfArchive(t *testing.T) {
	var first bytes.Buffer
	if err := writeTar(&first, happyEntries()); err != nil {
		t.Fatal(err)
	}
	var second bytes.Buffer
	if err := writeTar(&second, []entry{reg("packages/app/evil", 0o755, "#!/bin/sh\necho hidden\n")}); err != nil {
		t.Fatal(err)
	}
	archive := first.Bytes()
	cases := []struct {
		name  string
		plain []byte
		msg   string
	}{
		{"second archive", append(slices.Clip(archive), second.Bytes()...), fmt.Sprintf("a second tar archive (%d bytes, first entry packages/app/evil) after the end-of-archive marker", second.Len())},
		{"record padding", append(slices.Clip(archive), make([]byte, 10240-len(archive)%10240)...), "zero bytes after the end-of-archive marker"},
		{"one extra zero block", append(slices.Clip(archive), make([]byte, 512)...), "512 zero bytes after"},
		{"trailing bytes", append(slices.Clip(archive), "hello"...), "5 bytes of data after the end-of-archive marker"},
		{"one zero block", archive[:len(archive)-512], "without its end-of-archive marker"},
		{"no marker", archive[:len(archive)-1024], "without its end-of-archive marker"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t)
			p := fx.sealPlain(c.plain, len(happyEntries()), sealOpts{})
			_, err := fx.extract(context.Background(), p, manifestFor(happyEntries()))
			t.Log(err)
			fx.assertRefused(err, entryPlaintext, c.msg)
		})
	}
	t.Run("exact end", func(t *testing.T) {
		fx := newFixture(t)
		p := fx.sealPlain(archive, len(happyEntries()), sealOpts{})
		if _, err := fx.extract(context.Background(), p, manifestFor(happyEntries())); err != nil {
			t.Fatal(err)
		}
	})
}

// TestExtractBomb: 100 MiB of zeros in the archive while the predicate
// signs 1 MiB of plaintext. Extraction stops at the cap, quickly.
func TestExtractBomb(t *testing.T) {
	fx := newFixture(t)
	const size = 100 << 20
	es := happyEntries()[:1]
	es = append(es, entry{name: "zeros", typ: tar.TypeReg, mode: 0o644, size: -1, zeros: size})
	m := manifestFor(es[:1])
	m.Files = []bundle.File{{Path: "zeros", Type: bundle.TypeFile, Mode: 0o644, Size: size, SHA256: zerosSHA256(size)}}
	p := fx.seal(es, sealOpts{})
	if p.Payload.Size > 1<<20 {
		t.Fatalf("bomb ciphertext is %d bytes; expected a small one", p.Payload.Size)
	}
	p.Payload.PlaintextSize = 1 << 20
	start := time.Now()
	_, err := fx.extract(context.Background(), p, m)
	elapsed := time.Since(start)
	fx.assertRefused(err, entryPlaintext, "larger than the signed plaintext size of 1048576 bytes")
	if elapsed > 5*time.Second {
		t.Errorf("refusing the bomb took %v", elapsed)
	}
}

func zerosSHA256(n int64) string {
	h := sha256.New()
	io.Copy(h, io.LimitReader(zeroReader{}, n))
	return hex.EncodeToString(h.Sum(nil))
}

// TestExtractMemory: a 64 MiB file is streamed, not buffered.
func TestExtractMemory(t *testing.T) {
	fx := newFixture(t)
	const size = 64 << 20
	es := append(happyEntries()[:1], entry{name: "zeros", typ: tar.TypeReg, mode: 0o644, size: -1, zeros: size})
	m := manifestFor(es[:1])
	m.Files = []bundle.File{{Path: "zeros", Type: bundle.TypeFile, Mode: 0o644, Size: size, SHA256: zerosSHA256(size)}}
	p := fx.seal(es, sealOpts{})
	var before, after runtimeMem
	before.read()
	if _, err := fx.extract(context.Background(), p, m); err != nil {
		t.Fatal(err)
	}
	after.read()
	if alloc := after.total - before.total; alloc > size/2 {
		t.Errorf("extracting %d bytes allocated %d bytes", size, alloc)
	} else {
		t.Logf("extracting %d MiB allocated %.1f MiB", size>>20, float64(alloc)/(1<<20))
	}
	assertStaged(t, fx.dir, m)
}

func TestExtractCancelled(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		fx := newFixture(t)
		es := happyEntries()
		p := fx.seal(es, sealOpts{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := fx.extract(ctx, p, manifestFor(es))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		fx.assertGone()
	})
	es := append(happyEntries(), reg("scripts/noise.bin", 0o644, string(noise(1<<20))))
	// Count the context checks of a whole extraction, then cancel at
	// several of them, the last one included.
	counted := &countdownCtx{Context: context.Background()}
	counted.left.Store(1 << 62)
	fx := newFixture(t)
	if _, err := fx.extract(counted, fx.seal(es, sealOpts{}), manifestFor(es)); err != nil {
		t.Fatal(err)
	}
	checks := 1<<62 - counted.left.Load()
	if checks < 20 {
		t.Fatalf("only %d context checks in an extraction of 1 MiB", checks)
	}
	for _, after := range []int64{1, 2, checks / 4, checks / 2, checks - 1} {
		t.Run("after "+strconv.Itoa(int(after))+" of "+strconv.Itoa(int(checks))+" checks", func(t *testing.T) {
			fx := newFixture(t)
			p := fx.seal(es, sealOpts{})
			ctx := &countdownCtx{Context: context.Background()}
			ctx.left.Store(after)
			_, err := fx.extract(ctx, p, manifestFor(es))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if isRefusal(err) {
				t.Errorf("cancellation reported as a refusal: %v", err)
			}
			fx.assertGone()
		})
	}
}

// countdownCtx reports cancellation after a number of Err calls, to cancel
// deterministically in the middle of an extraction.
type countdownCtx struct {
	context.Context
	left atomic.Int64
}

func (c *countdownCtx) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestExtractDirExists(t *testing.T) {
	fx := newFixture(t)
	es := happyEntries()
	p := fx.seal(es, sealOpts{})
	if err := os.Mkdir(fx.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(fx.dir, "keep")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := fx.extract(context.Background(), p, manifestFor(es))
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("got %v, want an error wrapping os.ErrExist", err)
	}
	if got := names(t, fx.dir); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("existing directory now holds %v", got)
	}
	if data, err := os.ReadFile(keep); err != nil || string(data) != "mine" {
		t.Errorf("existing file changed: %q, %v", data, err)
	}
	fx.assertConfined(true)
}

func TestExtractOptions(t *testing.T) {
	fx := newFixture(t)
	p := fx.seal(happyEntries(), sealOpts{})
	m := manifestFor(happyEntries())
	b, err := bundle.Open(fx.bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ids := []age.Identity{fx.id}
	for name, o := range map[string]Options{
		"no bundle":     {Predicate: p, Manifest: m, Identities: ids, Dir: fx.dir},
		"no predicate":  {Bundle: b, Manifest: m, Identities: ids, Dir: fx.dir},
		"no manifest":   {Bundle: b, Predicate: p, Identities: ids, Dir: fx.dir},
		"no identities": {Bundle: b, Predicate: p, Manifest: m, Dir: fx.dir},
		"no dir":        {Bundle: b, Predicate: p, Manifest: m, Identities: ids},
		"foreign part":  {Bundle: b, Predicate: withPart(p, bundle.ManifestFile), Manifest: m, Identities: ids, Dir: fx.dir},
	} {
		if _, err := Extract(context.Background(), o); err == nil || isRefusal(err) {
			t.Errorf("%s: got %v, want a usage error", name, err)
		}
	}
	if _, err := os.Lstat(fx.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging directory created for invalid options")
	}
	o := Options{Bundle: b, Predicate: p, Manifest: m, Identities: ids, Dir: filepath.Join(fx.parent, "missing", "stage")}
	if _, err := Extract(context.Background(), o); err == nil {
		t.Error("extracted into a directory whose parent does not exist")
	}
}

func withPart(p *bundle.Predicate, name string) *bundle.Predicate {
	q := *p
	q.Payload.Parts = []bundle.FileRef{{Name: name, Size: 1, SHA256: strings.Repeat("0", 64)}}
	return &q
}

// TestRootConfinement plants links in the staging root, as a concurrent
// attacker could, and checks that os.Root keeps every write inside.
func TestRootConfinement(t *testing.T) {
	for _, target := range []string{"../sentinel", "/tmp", "sub/../../sentinel"} {
		t.Run(target, func(t *testing.T) {
			fx := newFixture(t)
			root, err := createRoot(fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			if target == "/tmp" {
				target = fx.sentinel // absolute
			}
			if err := os.Symlink(target, filepath.Join(fx.dir, "d")); err != nil {
				t.Fatal(err)
			}
			f := fileRef("d/f", 0o644, "payload")
			w := newWriter(root)
			w.send(job{kind: jobCreate, f: &f})
			w.send(job{kind: jobData, f: &f, data: append(w.buffer()[:0], "payload"...)})
			w.send(job{kind: jobFinish, f: &f, ok: true})
			if err := w.close(); err == nil {
				t.Error("wrote through a link out of the root")
			}
			d := dirRef("d/sub")
			w = newWriter(root)
			w.send(job{kind: jobMkdir, f: &d})
			if err := w.close(); err == nil {
				t.Error("created a directory through a link out of the root")
			}
			fx.assertConfined(true)
		})
	}
}

// TestExtractConcurrentSwap swaps a staged directory for a link out of the
// root while extraction writes into it (threat 20). Whether or not the
// swap lands in time, nothing may appear outside the staging directory.
func TestExtractConcurrentSwap(t *testing.T) {
	fx := newFixture(t)
	const size = 48 << 20
	es := []entry{
		varsEntry(testVarsJSON),
		dirEntry("a"),
		{name: "a/big", typ: tar.TypeReg, mode: 0o644, size: -1, zeros: size},
		reg("a/z", 0o644, "after the swap"),
	}
	m := manifestFor([]entry{es[0], es[1], es[3]})
	m.Files = []bundle.File{m.Files[0], {Path: "a/big", Type: bundle.TypeFile, Mode: 0o644, Size: size, SHA256: zerosSHA256(size)}, m.Files[1]}
	p := fx.seal(es, sealOpts{})

	done := make(chan struct{})
	swapped := make(chan bool, 1)
	go func() {
		a := filepath.Join(fx.dir, "a")
		for {
			select {
			case <-done:
				swapped <- false
				return
			default:
			}
			if _, err := os.Lstat(filepath.Join(a, "big")); err == nil {
				if os.Rename(a, filepath.Join(fx.dir, "moved")) == nil && os.Symlink("../sentinel", a) == nil {
					swapped <- true
					return
				}
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	_, err := fx.extract(context.Background(), p, m)
	close(done)
	if <-swapped {
		if err == nil {
			t.Error("extraction succeeded although its directory was swapped for a link")
		}
		t.Logf("swapped: %v", err)
	} else {
		t.Logf("the swap did not land in time (err: %v)", err)
	}
	if got := names(t, fx.sentinel); len(got) != 0 {
		t.Errorf("sentinel directory holds %v, want nothing", got)
	}
}

func TestDisplay(t *testing.T) {
	for in, want := range map[string]string{
		"a/b.txt":                "a/b.txt",
		"ünïcode/ok":             "ünïcode/ok",
		"":                       `""`,
		"a\x1b[31mred":           `"a\x1b[31mred"`,
		"evil\u202etxt.exe":      `"evil\u202etxt.exe"`,
		"bad\xffutf8":            `"bad\xffutf8"`,
		strings.Repeat("é", 150): `"` + strings.Repeat("é", 100) + `"…`,
	} {
		if got := display(in); got != want {
			t.Errorf("display(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Entry: "scripts/x", Msg: "is a FIFO"}
	if got := e.Error(); got != "payload: scripts/x: is a FIFO" {
		t.Errorf("Error() = %q", got)
	}
}

// replace swaps the entry named name (a directory's name may omit its
// trailing slash) for e.
func replace(es []entry, name string, e entry) []entry {
	es = slices.Clone(es)
	es[index(es, name)] = e
	return es
}

func insertBefore(es []entry, name string, e entry) []entry {
	return slices.Insert(slices.Clone(es), index(es, name), e)
}

func index(es []entry, name string) int {
	for i, e := range es {
		if e.name == name || e.name == name+"/" {
			return i
		}
	}
	panic("no entry " + name)
}

// flipByte flips one byte of a file at the given fraction of its length.
func flipByte(t testing.TB, path string, at float64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[int(float64(len(data)-1)*at)] ^= 0x40
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// noise returns n reproducible, incompressible bytes.
func noise(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}
