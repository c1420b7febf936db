//go:build unix

package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// TestMaliciousSigner: a bundle validly signed by a trusted key whose
// manifest or statement lies about the payload is refused before any step
// runs, writes nothing outside staging, and still gets a receipt.
func TestMaliciousSigner(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *bundle.Manifest, p *bundle.Predicate)
		check receipt.CheckName
	}{
		{"traversing path", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files[len(m.Files)-1].Path = "packages/web/../../../x"
		}, "manifest"},
		{"absolute path", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files = append([]bundle.File{{Path: "/etc/cron.d/x", Type: "file", Mode: 0o644, Size: 1, SHA256: zeros}}, m.Files...)
		}, "manifest"},
		{"case collision", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files = append(m.Files, bundle.File{Path: "packages/web/INDEX.html", Type: "file", Mode: 0o644, Size: 1, SHA256: zeros})
			sortFiles(m)
		}, "manifest"},
		{"duplicate entry", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files = append(m.Files, m.Files[len(m.Files)-1])
		}, "manifest"},
		{"setuid mode", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files[len(m.Files)-1].Mode = 0o4755
		}, "manifest"},
		{"size that lies", func(m *bundle.Manifest, p *bundle.Predicate) {
			f := fileNamed(m, "packages/web/index.html")
			f.Size++
		}, "extract"},
		{"digest that lies", func(m *bundle.Manifest, p *bundle.Predicate) {
			fileNamed(m, "packages/web/index.html").SHA256 = zeros
		}, "extract"},
		{"entry missing from the payload", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files = append(m.Files, bundle.File{Path: "packages/web/zzz", Type: "file", Mode: 0o644, Size: 1, SHA256: zeros})
		}, "extract"},
		{"entry the manifest omits", func(m *bundle.Manifest, p *bundle.Predicate) {
			m.Files = m.Files[:len(m.Files)-1]
		}, "extract"},
		{"decompression bomb", func(m *bundle.Manifest, p *bundle.Predicate) {
			p.Payload.PlaintextSize = 2048
		}, "extract"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := newZone(t)
			b := z.build("1.0.0", "true", 1)
			z.lie(b, tt.edit)
			res, err := z.apply(b)
			var ve *verify.Error
			if !errors.As(err, &ve) || ve.Check != tt.check {
				t.Fatalf("err = %v, want a %s failure", err, tt.check)
			}
			z.assertRefusedBeforeSteps(res, tt.check)
			for _, p := range []string{filepath.Join(z.dir, "x"), "/etc/cron.d/x"} {
				if _, err := os.Stat(p); err == nil {
					t.Fatalf("%s was written", p)
				}
			}
		})
	}
}

// assertRefusedBeforeSteps checks a refusal: its receipt says refused for
// check, no step ran, nothing was deployed and no staging is left.
func (z *testZone) assertRefusedBeforeSteps(res *Result, check receipt.CheckName) {
	z.t.Helper()
	if p := z.receipt(res); p.Outcome.Result != receipt.Refused || p.Outcome.Reason != receipt.Reason(check) {
		z.t.Fatalf("receipt outcome %+v", p.Outcome)
	}
	if z.markers() != "" {
		z.t.Fatal("a step ran")
	}
	if _, err := os.Stat(z.root); !os.IsNotExist(err) {
		z.t.Fatal("something was deployed")
	}
	if ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "staging")); len(ents) != 0 {
		z.t.Fatal("staging left behind")
	}
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

// lie rewrites a folder bundle's manifest and statement with edit and signs
// them again with the trusted release key: a malicious (or broken) signer.
func (z *testZone) lie(dir string, edit func(m *bundle.Manifest, p *bundle.Predicate)) {
	z.t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		z.t.Fatal(err)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		z.t.Fatal(err)
	}
	st := z.f.Statement(dir)
	edit(m, &st.Predicate)
	data, err = bundle.MarshalManifest(m)
	if err != nil {
		z.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.ManifestFile), data, 0o644); err != nil {
		z.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	z.f.Resign(dir, func(s *bundle.Statement) {
		s.Predicate = st.Predicate
		s.Predicate.Manifest.Size, s.Predicate.Manifest.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
		s.Predicate.Payload.Entries = len(m.Files) + 1
		s.Subject = bundle.Subjects(&s.Predicate)
	}, z.f.Release)
}

func fileNamed(m *bundle.Manifest, path string) *bundle.File {
	for i := range m.Files {
		if m.Files[i].Path == path {
			return &m.Files[i]
		}
	}
	panic("no file " + path)
}

func sortFiles(m *bundle.Manifest) {
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
}
