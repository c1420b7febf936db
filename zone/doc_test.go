package zone

import (
	"slices"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

// TestDesignDocDiffKinds: doc/design.md lists exactly the policy
// difference kinds the code defines, in order.
func TestDesignDocDiffKinds(t *testing.T) {
	doc, err := designdoc.Column("Differences (`policyChange.changes[].kind`)", 0)
	if err != nil {
		t.Fatal(err)
	}
	var code []string
	for _, d := range DiffKinds {
		code = append(code, d.Kind)
	}
	if !slices.Equal(doc, code) {
		t.Errorf("design.md lists %q, the code defines %q", doc, code)
	}
}
