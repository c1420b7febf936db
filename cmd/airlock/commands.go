package main

import (
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
