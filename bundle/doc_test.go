package bundle

import (
	"slices"
	"testing"

	"airlock.dev/airlock/internal/designdoc"
)

// TestDesignDocCodes: doc/design.md lists exactly the step kinds, when
// values, built-in names and target kinds the code defines.
func TestDesignDocCodes(t *testing.T) {
	var kinds, whens, builtins []string
	for _, k := range StepKinds() {
		kinds = append(kinds, string(k))
	}
	for _, w := range Whens {
		whens = append(whens, string(w))
	}
	for _, b := range Builtins {
		builtins = append(builtins, string(b))
	}
	for _, tc := range []struct {
		intro string
		code  []string
	}{
		{"Step kinds (`steps[].kind`", kinds},
		{"When a step runs (`when`)", whens},
		{"Built-in names, for `#{…}`", builtins},
		{"Target kinds (`targets[]`", TargetKinds},
	} {
		doc, err := designdoc.Column(tc.intro, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(doc, tc.code) {
			t.Errorf("%s: design.md lists %q, the code defines %q", tc.intro, doc, tc.code)
		}
	}
}
