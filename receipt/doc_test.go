package receipt

import (
	"slices"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// TestDesignDocCodes: doc/design.md lists exactly the codes receipts carry.
func TestDesignDocCodes(t *testing.T) {
	reasons := Reasons()[:len(Reasons())-len(CheckNames)]
	for _, tc := range []struct {
		intro string
		col   int
		code  []string
	}{
		{"Outcome results (`outcome.result`)", 0, strs(OutcomeResults)},
		{"Events (`event`)", 0, strs(Events)},
		{"Reasons (`outcome.reason`)", 0, strs(reasons)},
		{"Check results (`checks[].result`)", 0, strs(CheckResults)},
		{"Step results (`steps[].result`)", 0, strs(StepResults)},
		{"Variable origins (`variableSources[].origin`)", 0, strs(Origins)},
		{"`airlock verify`, `airlock plan` and `airlock apply` run the same checks", 1, strs(CheckNames)},
	} {
		doc, err := designdoc.Column(tc.intro, tc.col)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(doc, tc.code) {
			t.Errorf("%s: design.md lists %q, the code defines %q", tc.intro, doc, tc.code)
		}
	}
}
