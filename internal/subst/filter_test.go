package subst

import (
	"strings"
	"testing"
)

// TestFilterTable: every row of the filter table follows one argument
// rule, and every name and alias, in any case, finds its own row.
func TestFilterTable(t *testing.T) {
	seen := map[string]string{}
	for _, f := range filters {
		switch {
		case (f.compile == nil) == (len(f.variants) == 0):
			t.Errorf("%s: want either variants or compile", f.name)
		case len(f.variants) > 0 && (f.variants[0].arg != "" || f.variants[0].f == nil):
			t.Errorf("%s: the first variant is the filter without an argument", f.name)
		case len(f.variants) > 1 && f.argWhat == "":
			t.Errorf("%s: takes an argument, but argWhat does not say what it names", f.name)
		}
		for _, v := range f.variants[min(1, len(f.variants)):] {
			if v.arg == "" || v.f == nil {
				t.Errorf("%s: a variant without its argument or function", f.name)
			}
		}
		for _, name := range append([]string{f.name}, f.aliases...) {
			key := strings.ToLower(name)
			if other, dup := seen[key]; dup {
				t.Errorf("%s: name %s is taken by %s", f.name, name, other)
			}
			seen[key] = f.name
			for _, spelled := range []string{name, strings.ToUpper(name), key} {
				if row, ok := lookupFilter(spelled); !ok || row.name != f.name {
					t.Errorf("lookupFilter(%q) does not find %s", spelled, f.name)
				}
			}
		}
	}
}
