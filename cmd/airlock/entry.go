//go:build !manpages

package main

import "os"

// main is airlock's. Built with -tags manpages, this package is instead
// the man page generator (manpages.go), so that the generator and its
// modules stay out of the airlock binary.
func main() {
	shareBusyMachine()
	os.Exit(runMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
