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
		newImagesCommand(),
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

// cobraCommands adds cobra's help and completion commands now, rather
// than when the command runs, so that they are in the tree that help and
// the man pages show, with examples like every other command.
func cobraCommands(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = examples("airlock help apply", "airlock help key generate")
		case "completion":
			c.Example = examples("airlock completion bash > /etc/bash_completion.d/airlock")
			for _, shell := range c.Commands() {
				shell.Example = examples("airlock completion " + shell.Name() + " > airlock." + shell.Name())
			}
		}
	}
}
