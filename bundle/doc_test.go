package bundle

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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

// TestDesignDocWhereToAdd: each table that doc/design.md's "Where to add"
// section names as `name` in `file` is declared in that file, so the
// section cannot point at a table that moved.
func TestDesignDocWhereToAdd(t *testing.T) {
	data, err := os.ReadFile(designdoc.Path())
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(data), "### Where to add a step kind, an input kind, a receipt field\n")
	section, _, _ = strings.Cut(section, "\n#")
	claims := regexp.MustCompile("`([A-Za-z.]+)` in `([a-z/_.]+\\.go)`").FindAllStringSubmatch(section, -1)
	if len(claims) < 3 {
		t.Fatalf("the section names %d tables in files, want at least the step kinds, their runners and the input kinds", len(claims))
	}
	root := filepath.Join(filepath.Dir(designdoc.Path()), "..")
	for _, c := range claims {
		name, file := c[1], c[2]
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(file)))
		if err != nil {
			t.Errorf("design.md names %s in %s: %v", name, file, err)
			continue
		}
		short := name[strings.LastIndex(name, ".")+1:]
		if !regexp.MustCompile(`(?m)^(var|type|func) (\([^)]*\) )?` + regexp.QuoteMeta(short) + `\b`).Match(src) {
			t.Errorf("design.md names %s in %s, which does not declare it", name, file)
		}
	}
}
