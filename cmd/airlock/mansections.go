//go:build manpages

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// manSections returns the sections of c's man page that cobra's
// generator does not write, in roff: EXIT STATUS, from the exit-code
// table (exitStatuses), and ENVIRONMENT, from the variables c reads
// (environment).
func manSections(c *cobra.Command) string {
	var b strings.Builder
	b.WriteString(".SH EXIT STATUS\n")
	for _, s := range exitStatuses {
		code, meaning := strconv.Itoa(s.code), s.meaning
		if s.code == exitSignal {
			code = "128+N"
			meaning = strings.TrimPrefix(meaning, code+": ")
		}
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", code, roff(meaning))
	}
	if env := environmentOf(c); len(env) > 0 {
		b.WriteString(".SH ENVIRONMENT\n")
		for _, e := range env {
			fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", roff(e.name), roff(e.meaning))
		}
	}
	return b.String()
}

// roff escapes text for a roff line: backslashes, minus signs, and a
// line that would start with a control character.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// withManSections inserts manSections(c) into page, cobra's roff for c,
// before SEE ALSO (at the end if it has none).
func withManSections(page []byte, c *cobra.Command) []byte {
	s := string(page)
	i := strings.Index(s, ".SH SEE ALSO")
	if i < 0 {
		i = len(s)
	}
	return []byte(s[:i] + manSections(c) + s[i:])
}
