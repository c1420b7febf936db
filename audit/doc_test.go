package audit

import (
	"slices"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

// TestDesignDocKinds: doc/design.md lists exactly the finding kinds the
// code defines, with their severities, in order.
func TestDesignDocKinds(t *testing.T) {
	intro := "fixed severity; any error exits 3"
	kindsDoc, err := designdoc.Column(intro, 0)
	if err != nil {
		t.Fatal(err)
	}
	sevDoc, err := designdoc.Column(intro, 1)
	if err != nil {
		t.Fatal(err)
	}
	var kindsCode, sevCode []string
	for _, k := range Kinds() {
		kindsCode, sevCode = append(kindsCode, k[0]), append(sevCode, k[1])
	}
	if !slices.Equal(kindsDoc, kindsCode) || !slices.Equal(sevDoc, sevCode) {
		t.Errorf("design.md lists %q %q, the code defines %q %q", kindsDoc, sevDoc, kindsCode, sevCode)
	}
}
