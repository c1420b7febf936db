package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// choices are the values a flag takes when it takes one of a few words
// (--compression, --fail-on, --role, --progress). One list serves both
// the check of what was given and the shell's completion, so the two
// cannot drift apart.
type choices []string

// complete makes the shell offer these values for flag of c, and no file
// names (cobra's __complete, behind 'airlock completion SHELL').
func (v choices) complete(c *cobra.Command, flag string) {
	offer := func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, s := range v {
			if strings.HasPrefix(s, prefix) {
				out = append(out, s)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	if err := c.RegisterFlagCompletionFunc(flag, offer); err != nil {
		panic(err) // a flag registered twice, or one that does not exist: a programming error
	}
}

// check returns a usage error naming the values when value is not one.
func (v choices) check(flag, value string) error {
	if slices.Contains(v, value) {
		return nil
	}
	return usageErrorf("--%s %q: want %s", flag, value, v)
}

// String lists the values as a sentence does: "a, b or c".
func (v choices) String() string {
	if len(v) < 2 {
		return strings.Join(v, "")
	}
	return strings.Join(v[:len(v)-1], ", ") + " or " + v[len(v)-1]
}
