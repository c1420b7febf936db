package main

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
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
		newReceiptCommand(),
		newAuditCommand(),
	}
}

// isVerificationFailure reports whether err means "verified and found bad"
// (exit 3), as opposed to "could not verify".
func isVerificationFailure(err error) bool {
	var re *receipt.VerifyError
	var ve *verify.Error
	return errors.As(err, &re) || errors.As(err, &ve)
}

// isUsage recognises cobra's own usage errors that bypass the flag hook.
func isUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "required flag")
}
