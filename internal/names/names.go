// Package names holds the one rule for the short names airlock's formats
// share: release names, channels, packages, zones and hosts. The release
// manifest, the bundle statement, the manifest and trust.yaml all check
// names with it, so a name one accepts the others accept too.
package names

import "regexp"

// Want says what a valid name looks like, for error messages.
const Want = `lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters`

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Valid reports whether s is a valid name.
func Valid(s string) bool { return nameRE.MatchString(s) }
