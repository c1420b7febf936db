package bundle_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
)

// changeYAML is the default release with full change evidence (PCI DSS
// 6.5.1): a security impact, a back-out procedure and test evidence files.
var changeYAML = strings.Replace(bundletest.DefaultYAML, "change: { ticket: CHG-1, reason: test }",
	`change:
  ticket: CHG-1
  reason: test
  securityImpact: "SIA-77: no change to the cardholder data flow"
  backout: switch to the previous release (when failure steps)
  testEvidence: [tests/junit.xml, tests/results/summary.txt]`, 1)

// TestChangeEvidence: test evidence files travel in the payload at their
// path, hashed in the manifest, and the statement names their digests.
func TestChangeEvidence(t *testing.T) {
	f := bundletest.New(t)
	files := bundletest.Files()
	files["tests/junit.xml"] = "<testsuite tests=\"12\" failures=\"0\"/>\n"
	files["tests/results/summary.txt"] = "12 passed\n"
	dir, res := f.Build(bundletest.Options{YAML: changeYAML, Files: files})
	c := res.Statement.Predicate.Change
	if c == nil || c.SecurityImpact != "SIA-77: no change to the cardholder data flow" || !strings.HasPrefix(c.Backout, "switch to") || len(c.TestEvidence) != 2 {
		t.Fatalf("change %+v", c)
	}
	for _, e := range c.TestEvidence {
		sum := sha256.Sum256([]byte(files[e.Path]))
		if e.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: sha256 %s in the statement", e.Path, e.SHA256)
		}
		found := false
		for _, mf := range readManifest(t, dir).Files {
			found = found || (mf.Path == e.Path && mf.SHA256 == e.SHA256)
		}
		if !found {
			t.Errorf("%s is not in the manifest with its digest", e.Path)
		}
	}
	p := res.Statement.Predicate
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.Change.TestEvidence = []bundle.Evidence{{Path: "../x", SHA256: c.TestEvidence[0].SHA256}}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "testEvidence") {
		t.Errorf("escaping evidence path: %v", err)
	}
}

func TestChangeEvidenceErrors(t *testing.T) {
	f := bundletest.New(t)
	for _, tc := range []struct{ name, evidence, want string }{
		{"missing", "[tests/none.xml]", `change.testEvidence[0]: "tests/none.xml" does not exist`},
		{"under packages", "[web/index.html]", ""},
		{"escapes", "[../x]", "change.testEvidence[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(bundletest.DefaultYAML, "change: { ticket: CHG-1, reason: test }", "change: { ticket: CHG-1, testEvidence: "+tc.evidence+" }", 1)
			dir := f.WriteRelease(yaml, bundletest.Files(), 0)
			_, err := bundle.LoadRelease(dir)
			if tc.want == "" {
				// A file inside a package folder is carried as evidence at its own path.
				if err != nil {
					t.Fatalf("evidence inside the release: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
