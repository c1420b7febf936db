package main

import (
	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/pkcs11key"
)

// environ is an environment variable airlock reads: its name, what it
// does, and which commands read it (the man pages' ENVIRONMENT section).
type environ struct {
	name    string
	meaning string
	readBy  func(*cobra.Command) bool
}

// environment lists every environment variable airlock reads.
var environment = []environ{
	{passwordEnv, "the password of an encrypted private key file, when --password-file is not given (else airlock asks on the terminal)", hasFlag("password-file")},
	{passphraseEnv, "the passphrase of an age-encrypted zone identity, when --identity-passphrase-file is not given (else airlock asks on the terminal)", hasFlag("identity-passphrase-file")},
	{pkcs11key.PINEnv, "the user PIN of a PKCS#11 token, when the key's pkcs11: URI has no pin-source or pin-value (else airlock asks on the terminal)", usesKeys},
	{pkcs11key.ModuleEnv, "the PKCS#11 module (a .so, .dylib or .dll file), when the key's pkcs11: URI has no module-path", usesKeys},
	{"AIRLOCK_LEDGER", "the builder's ledger folder, when --ledger is not given (else $XDG_STATE_HOME/airlock/ledger, ~/.local/state/airlock/ledger, or %LocalAppData%\\airlock\\ledger on Windows)", isCommand("airlock build")},
	{"SOURCE_DATE_EPOCH", "seconds since 1970: the time given to the files in the payload (reproducible builds)", isCommand("airlock build")},
	{"any fromEnv name", "the value of a release variable declared in airlock.yaml with fromEnv: NAME", isCommand("airlock build")},
	{"GOMAXPROCS", "the number of threads that run at once (default: two more than the cores)", anyCommand},
	{"GOGC, GOMEMLIMIT", "the Go garbage collector's settings, in place of the audit's own (50, 88 MiB)", isCommand("airlock audit")},
}

// hasFlag: the commands with this flag.
func hasFlag(name string) func(*cobra.Command) bool {
	return func(c *cobra.Command) bool { return c.Flags().Lookup(name) != nil }
}

// isCommand: the command of this path only.
func isCommand(path string) func(*cobra.Command) bool {
	return func(c *cobra.Command) bool { return c.CommandPath() == path }
}

// usesKeys: the commands that may use a key in a PKCS#11 token — those
// given a private key, key generate --pkcs11, and apply, which signs
// receipts with the zone's receipt key.
func usesKeys(c *cobra.Command) bool {
	return hasFlag("password-file")(c) || hasFlag("pkcs11")(c) || isCommand("airlock apply")(c)
}

func anyCommand(*cobra.Command) bool { return true }

// environmentOf returns the variables c reads, in the table's order.
func environmentOf(c *cobra.Command) []environ {
	var out []environ
	for _, e := range environment {
		if e.readBy(c) {
			out = append(out, e)
		}
	}
	return out
}
