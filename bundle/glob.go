package bundle

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/bmatcuk/doublestar/v4"
)

// Globs of deploy steps (substitute, structured and files) select files of
// a package by their slash path relative to the package root, with the
// syntax of github.com/bmatcuk/doublestar: * and ? within one path element,
// ** as a whole element for any number of elements (config/**/*.json),
// [a-z] and [!a-z] classes, and {json,yaml} alternatives. MatchGlob is the
// one matcher: the builder's check that every glob matches a file and the
// applier use it, so what was checked is what is deployed.

// maxGlobAlternatives bounds the {a,b} groups of a glob: each may double
// the work of matching a name.
const maxGlobAlternatives = 8

// MatchGlob reports whether name, a slash path relative to a package root,
// matches pattern. An invalid pattern matches nothing.
func MatchGlob(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return ok && err == nil
}

// MatchAnyGlob reports whether name matches any of patterns.
func MatchAnyGlob(patterns []string, name string) bool {
	for _, p := range patterns {
		if MatchGlob(p, name) {
			return true
		}
	}
	return false
}

// globProblem returns why pattern is not a glob of package files, or "".
func globProblem(pattern string) string {
	switch {
	case pattern == "":
		return "is empty"
	case len(pattern) > MaxPathLen:
		return fmt.Sprintf("is longer than %d bytes", MaxPathLen)
	case strings.Count(pattern, "{") > maxGlobAlternatives:
		return fmt.Sprintf("has more than %d {…} alternatives", maxGlobAlternatives)
	case strings.ContainsFunc(pattern, unicode.IsControl):
		return "must not contain control characters"
	case strings.Contains(pattern, `\`):
		return `must use "/" to separate directories, not "\"`
	case strings.HasPrefix(pattern, "/") || len(pattern) >= 2 && pattern[1] == ':' && isASCIILetter(pattern[0]):
		return "is absolute (want a pattern relative to the package, such as config/**/*.json)"
	case !doublestar.ValidatePattern(pattern):
		return "is not a valid glob (want * ? ** [a-z] {a,b}, such as config/**/*.json)"
	}
	for _, el := range strings.Split(pattern, "/") {
		if el == "" || el == "." || el == ".." {
			return `has an empty, "." or ".." element (want a clean path inside the package)`
		}
	}
	return ""
}

// SubstituteGlobs returns the substitute patterns of deploy step s in the
// syntax of MatchGlob. Format version 1 wrote them for path.Match, where
// ** is * and { } are plain characters: those are rewritten to select
// exactly the files they always did.
func (m *Manifest) SubstituteGlobs(s *Step) []string {
	if m.FormatVersion >= 2 {
		return s.Substitute.Globs
	}
	out := make([]string, len(s.Substitute.Globs))
	for i, p := range s.Substitute.Globs {
		out[i] = fromPathMatch(p)
	}
	return out
}

// fromPathMatch rewrites a path.Match pattern as a doublestar pattern that
// matches the same names: runs of * become one *, { and } are escaped, and
// a class opening with ! (a plain character for path.Match, a negation
// for doublestar) escapes it. The one difference left is an inverted range
// such as [z-a], which path.Match never matches and doublestar matches by
// its first character; a format 1 builder refused such a pattern, since
// every pattern had to match a file.
func fromPathMatch(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			b.WriteByte(c)
			if i+1 < len(p) {
				i++
				b.WriteByte(p[i])
			}
		case '*':
			b.WriteByte(c)
			for i+1 < len(p) && p[i+1] == '*' {
				i++
			}
		case '{', '}':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '[':
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '!' {
				b.WriteString(`\!`)
				i++
			}
			// The class runs to the first unescaped ]; it is copied as is.
			for i+1 < len(p) && p[i+1] != ']' {
				i++
				b.WriteByte(p[i])
				if p[i] == '\\' && i+1 < len(p) {
					i++
					b.WriteByte(p[i])
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
