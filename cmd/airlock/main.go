// Command airlock carries software releases across an air gap: it builds
// signed, encrypted bundles on the trusted side, verifies and applies them
// inside a disconnected zone, and audits the signed receipts that come back.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

// Exit codes, documented in README.md.
const (
	exitOK         = 0
	exitError      = 1 // I/O, configuration, "could not verify"
	exitUsage      = 2 // bad flags or arguments
	exitVerify     = 3 // verification failed / refused
	exitStepFailed = 4 // apply: a step failed (rolled back or not)
	exitBusy       = 5 // apply: another apply holds the zone lock
)

// codeError carries an exit code through cobra.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

func usageErrorf(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one airlock command and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "airlock: "+err.Error())
	return exitCode(err)
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "airlock",
		Short:         "Carry signed, encrypted releases across an air gap",
		Version:       appVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &codeError{code: exitUsage, err: fmt.Errorf("%w (see 'airlock %s --help')", err, c.Name())}
	})
	for _, c := range commands() {
		root.AddCommand(c)
	}
	wrapArgs(root)
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return &codeError{code: exitUsage, err: fmt.Errorf("%w (see 'airlock %s --help')", err, cmd.CommandPath()[len("airlock "):])}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// exitCode maps an error to the process exit code in one place.
func exitCode(err error) int {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	if isVerificationFailure(err) {
		return exitVerify
	}
	if isUsage(err) {
		return exitUsage
	}
	return exitError
}
