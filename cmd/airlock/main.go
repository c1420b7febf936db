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
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/verify/audit"
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

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	shareBusyMachine()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// shareBusyMachine lets two more goroutines run at once than there are
// cores (unless GOMAXPROCS is set). Build and apply are pipelines of
// stages in goroutines; the kernel shares a busy machine between runnable
// threads, not processes, and Go runs at most GOMAXPROCS threads of them.
// With one per core, airlock got half the share of the shell pipeline it
// replaces (tar, zstd's threads, age: four or five threads) and fell to
// twice its time; with two more it keeps its ratio, for about 5% more
// time on an idle machine (see README, Performance).
func shareBusyMachine() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 2)
	}
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
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Checked here rather than by cobra, so that a missing required
		// flag is a usageError like every other usage mistake.
		PersistentPreRunE: func(c *cobra.Command, _ []string) error { return checkRequiredFlags(c) },
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: fmt.Errorf("%w (see 'airlock %s --help')", err, c.Name())}
	})
	for _, c := range commands() {
		root.AddCommand(c)
	}
	groupCommand(root)
	wrapArgs(root)
	return root
}

// groupCommand makes c, a command that only groups subcommands, refuse an
// unknown subcommand as a usage error and show its help when called alone.
func groupCommand(c *cobra.Command) {
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return nil
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// checkRequiredFlags reports the first required flag of c that was not given.
func checkRequiredFlags(c *cobra.Command) error {
	var missing []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if req := f.Annotations[cobra.BashCompOneRequiredFlag]; len(req) > 0 && req[0] == "true" && !f.Changed {
			missing = append(missing, `"`+f.Name+`"`)
		}
	})
	if len(missing) > 0 {
		return usageErrorf("required flag(s) %s not set (see 'airlock %s --help')", strings.Join(missing, ", "), c.CommandPath()[len("airlock "):])
	}
	return nil
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return &usageError{err: fmt.Errorf("%w (see 'airlock %s --help')", err, strings.TrimPrefix(cmd.CommandPath(), "airlock "))}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// exitCode maps an error to the process exit code; it is the only place
// that does, and it decides by the error's type, never by its text.
func exitCode(err error) int {
	var usage *usageError
	var bad *verify.Error
	var badReceipt *receipt.VerifyError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &bad), errors.As(err, &badReceipt), errors.Is(err, audit.ErrProblems):
		return exitVerify
	case errors.Is(err, apply.ErrStepFailed):
		return exitStepFailed
	case errors.Is(err, apply.ErrBusy):
		return exitBusy
	}
	return exitError
}
