package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hexSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// deltaManifest is a valid delta manifest: a.txt whole from the base,
// big.bin in two chunks of which the first is from the base.
func deltaManifest() *Manifest {
	return &Manifest{
		FormatVersion: FormatVersion, Name: "shop", Version: "1.1", Channel: "stable",
		Packages:      []PackageRef{{Name: "web", Root: "packages/web", Files: 2, Size: 5 + 300<<10}},
		Variables:     []VariableRef{},
		VariablesFile: FileRef{Name: VariablesEntry, Size: 2, SHA256: hexSum("{}")},
		Steps:         []Step{{Name: "install", Deploy: "web", To: "/srv/shop", Keep: 3, When: "success", Timeout: Duration(15 * 60e9), RetryDelay: Duration(5e9)}},
		Delta: &Delta{
			Base: []DeltaBase{{Host: "app-01", Seq: 3, Receipt: hexSum("r")}},
			Files: []DeltaFile{
				{Path: "packages/web/a.txt", Base: true},
				{Path: "packages/web/big.bin", Chunks: []DeltaChunk{{SHA256: hexSum("c1"), Size: 200 << 10, Base: true}, {SHA256: hexSum("c2"), Size: 100 << 10}},
					ShippedSize: 100 << 10, ShippedSHA256: hexSum("c2")},
			},
		},
		Files: []File{
			{Path: "packages", Type: TypeDir, Mode: 0o755},
			{Path: "packages/web", Type: TypeDir, Mode: 0o755},
			{Path: "packages/web/a.txt", Type: TypeFile, Mode: 0o644, Size: 5, SHA256: hexSum("hello")},
			{Path: "packages/web/big.bin", Type: TypeFile, Mode: 0o644, Size: 300 << 10, SHA256: hexSum("big")},
		},
	}
}

func TestDeltaManifestValid(t *testing.T) {
	m := deltaManifest()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(data); err != nil {
		t.Fatalf("a delta manifest does not read back: %v", err)
	}
	// testdata/seed/manifest-delta.json, FuzzParseManifest's seed, is this.
	if seed, _ := os.ReadFile(filepath.Join("testdata", "seed", "manifest-delta.json")); string(seed) != string(data) {
		t.Error("testdata/seed/manifest-delta.json is not the delta manifest of this test")
	}
	sh := m.Shipped()
	if len(sh.Files) != 3 || sh.Files[2].Size != 100<<10 || sh.Files[2].SHA256 != hexSum("c2") || sh.Delta != nil {
		t.Errorf("shipped files %+v", sh.Files)
	}
	if m.Files[3].Size != 300<<10 {
		t.Error("Shipped changed the manifest")
	}
	s := m.DeltaSummary()
	if s.LeftOutBytes != 5+200<<10 || s.LeftOutFiles != 1 || s.LeftOutChunks != 1 || s.ReleaseBytes != 5+300<<10 {
		t.Errorf("summary %+v", s)
	}
}

// TestDeltaManifestRefused: a signer's delta that does not add up is
// refused before anything is read from the store.
func TestDeltaManifestRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(d *Delta)
		want string
	}{
		"no base":        {func(d *Delta) { d.Base = nil }, "no base receipt"},
		"bad receipt":    {func(d *Delta) { d.Base[0].Receipt = "x" }, "delta.base[0]"},
		"host twice":     {func(d *Delta) { d.Base = append(d.Base, d.Base[0]) }, "delta.base[1]"},
		"seq 0":          {func(d *Delta) { d.Base[0].Seq = 0 }, "delta.base[0]"},
		"unsorted":       {func(d *Delta) { d.Files[0], d.Files[1] = d.Files[1], d.Files[0] }, "not sorted"},
		"not a file":     {func(d *Delta) { d.Files[0].Path = "packages/web" }, "not a file of the manifest"},
		"unknown":        {func(d *Delta) { d.Files[0].Path = "packages/web/zzz" }, "not a file of the manifest"},
		"base + chunks":  {func(d *Delta) { d.Files[0].Chunks = d.Files[1].Chunks }, "whole from the base"},
		"short chunks":   {func(d *Delta) { d.Files[1].Chunks[1].Size-- }, "chunks of"},
		"shipped size":   {func(d *Delta) { d.Files[1].ShippedSize++ }, "shippedSize"},
		"no base chunk":  {func(d *Delta) { d.Files[1].Chunks[0].Base = false; d.Files[1].ShippedSize = 300 << 10 }, "no chunk comes from the base"},
		"huge chunk":     {func(d *Delta) { d.Files[1].Chunks[0].Size = 1 << 30 }, "chunk 0"},
		"no shipped sum": {func(d *Delta) { d.Files[1].ShippedSHA256 = "" }, "neither whole"},
	} {
		t.Run(name, func(t *testing.T) {
			m := deltaManifest()
			tc.edit(m.Delta)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
