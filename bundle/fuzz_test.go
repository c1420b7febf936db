package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"airlock.dev/airlock/internal/dsse"
)

// seedFiles adds every file of testdata/seed matching pattern to f and
// fails if there is none, so a fuzzer never starts from an empty corpus.
func seedFiles(f *testing.F, pattern string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "seed", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seed files %s: %v", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseManifest: manifest.json is hostile input in the zone. Whatever
// ParseManifest accepts must validate, and re-encode to something it
// accepts again with the same content.
func FuzzParseManifest(f *testing.F) {
	seedFiles(f, "manifest*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		out, err := MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-encoded manifest rejected: %v", err)
		}
		out2, _ := MarshalManifest(m2)
		if !bytes.Equal(out, out2) {
			t.Fatal("manifest does not round-trip")
		}
	})
}

// FuzzReadStatement: the envelope and the statement inside it are the first
// hostile bytes a zone reads.
func FuzzReadStatement(f *testing.F) {
	seedFiles(f, "statement*.dsse.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := dsse.Read(bytes.NewReader(data), MaxStatementSize)
		if err != nil {
			return
		}
		payload, err := dsse.PayloadOf(env)
		if err != nil {
			t.Fatalf("Read accepted an envelope whose payload does not decode: %v", err)
		}
		st, err := ParseStatement(payload)
		if err != nil {
			return
		}
		_ = st.Predicate.Validate()
		_ = SubjectsMatch(st)
	})
}
