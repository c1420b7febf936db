package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// commands lists every top-level command, in help order.
func commands() []*cobra.Command {
	return []*cobra.Command{
		newKeyCommand(),
		newZoneCommand(),
		newBuildCommand(),
		newSignCommand(),
		newInspectCommand(),
		newVerifyCommand(),
		newPlanCommand(),
		newApplyCommand(),
		newStatusCommand(),
		newHistoryCommand(),
		newReceiptCommand(),
		newAuditCommand(),
		newVersionCommand(),
	}
}

// examples formats command lines for a command's Example, as cobra shows
// them under "Examples:". Each is a real command line (TestExamples parses
// every one against the command tree); a line starting with # is a
// comment.
func examples(lines ...string) string {
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
