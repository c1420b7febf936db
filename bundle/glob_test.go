package bundle

import (
	"path"
	"testing"
	"unicode/utf8"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"config/*.json", "config/app.json", true},
		{"config/*.json", "config/sub/app.json", false},
		{"config/**/*.json", "config/app.json", true},
		{"config/**/*.json", "config/a/b/app.json", true},
		{"**/*.json", "app.json", true},
		{"**/*.json", "a/b/c/app.json", true},
		{"**/appsettings.json", "x/appsettings.json", true},
		{"config/**", "config/a/b", true},
		{"config/**", "other/a", false},
		{"*.{yaml,yml}", "app.yml", true},
		{"*.{yaml,yml}", "app.json", false},
		{"bin/[a-c]*", "bin/app", true},
		{"bin/[!a-c]*", "bin/app", false},
		{"bin/?pp", "bin/app", true},
		{"*", "a/b", false},
		{"config/[a-", "config/a", false}, // invalid: matches nothing
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestGlobProblem(t *testing.T) {
	for _, good := range []string{"*.json", "config/**/*.json", "**", "a/{b,c}/d", "[a-z]*"} {
		if p := globProblem(good); p != "" {
			t.Errorf("globProblem(%q) = %q, want none", good, p)
		}
	}
	for _, bad := range []string{"", "/etc/*", "C:/x", `a\b`, "../x", "a/../b", "a//b", "./a", "a/", "config/[a-", "{a,b", "a\x00b"} {
		if globProblem(bad) == "" {
			t.Errorf("globProblem(%q) found nothing wrong", bad)
		}
	}
}

// pathMatchCases are path.Match patterns and names where the two syntaxes
// could differ.
var pathMatchCases = []struct{ pattern, name string }{
	{"**/x.json", "a/x.json"},
	{"**/x.json", "a/b/x.json"},
	{"**/x.json", "x.json"},
	{"config/**", "config/a"},
	{"config/**", "config/a/b"},
	{"a**b", "axxb"},
	{"{a,b}.json", "a.json"},
	{"{a,b}.json", "{a,b}.json"},
	{"x}.json", "x}.json"},
	{"[!a]", "!"},
	{"[!a]", "b"},
	{"[!a]", "a"},
	{"[^!a]", "b"},
	{"[^!a]", "!"},
	{"[!-z]", "a"},
	{"[]a]", "a"},
	{"[a-c]x", "bx"},
	{`\*x`, "*x"},
	{`\{a\}`, "{a}"},
	{"[{]", "{"},
	{"[*]", "*"},
	{"a?c", "abc"},
	{"a?c", "a/c"},
	{"*", "a/b"},
}

// TestSubstituteGlobsV1: a format 1 manifest's substitute patterns were
// written for path.Match, and select the same files with the one matcher.
func TestSubstituteGlobsV1(t *testing.T) {
	for _, c := range pathMatchCases {
		checkPathMatchEquivalent(t, c.pattern, c.name)
	}
	s := &Step{Substitute: Substitution{Globs: []string{"**/x.json"}}}
	v1, v2 := &Manifest{FormatVersion: 1}, &Manifest{FormatVersion: 2}
	if MatchAnyGlob(v1.SubstituteGlobs(s), "a/b/x.json") {
		t.Error("a format 1 manifest's **/x.json matches a/b/x.json, which path.Match never did")
	}
	if !MatchAnyGlob(v2.SubstituteGlobs(s), "a/b/x.json") {
		t.Error("a format 2 manifest's **/x.json does not match a/b/x.json")
	}
}

func checkPathMatchEquivalent(t *testing.T, pattern, name string) {
	t.Helper()
	want, err := path.Match(pattern, name)
	if err != nil || !utf8.ValidString(pattern) || !utf8.ValidString(name) || hasInvertedRange(pattern) {
		return // never in a manifest: the builder checked the pattern, JSON strings are UTF-8
	}
	if got := MatchGlob(fromPathMatch(pattern), name); got != want {
		t.Errorf("pattern %q (rewritten %q) on %q: %v, path.Match says %v", pattern, fromPathMatch(pattern), name, got, want)
	}
}

func FuzzFromPathMatch(f *testing.F) {
	for _, c := range pathMatchCases {
		f.Add(c.pattern, c.name)
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		checkPathMatchEquivalent(t, pattern, name)
	})
}

// hasInvertedRange reports whether a path.Match pattern has a class range
// such as [z-a], which matches nothing: a format 1 builder refused such a
// pattern, since every pattern had to match a file. doublestar matches its
// first character.
func hasInvertedRange(p string) bool {
	r := []rune(p)
	for i := 0; i < len(r); i++ {
		switch r[i] {
		case '\\':
			i++
		case '[':
			for i++; i < len(r) && r[i] != ']'; i++ {
				lo := r[i]
				if lo == '\\' && i+1 < len(r) {
					i++
					lo = r[i]
				}
				if i+2 < len(r) && r[i+1] == '-' && r[i+2] != ']' {
					hi := r[i+2]
					if hi == '\\' && i+3 < len(r) {
						i++
						hi = r[i+2]
					}
					if lo > hi {
						return true
					}
					i += 2
				}
			}
		}
	}
	return false
}
