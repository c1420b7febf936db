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
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/interrupt"
	"airlock.dev/airlock/internal/pkcs11key"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// Exit codes, one meaning each for every command (README, "Exit codes";
// the man pages' EXIT STATUS). An interrupted command exits with 128 + the
// signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a
// shell reports a process the signal ended.
const (
	exitOK         = 0
	exitError      = 1 // I/O, configuration, "could not verify"
	exitUsage      = 2 // bad flags or arguments
	exitVerify     = 3 // verification failed / refused
	exitStepFailed = 4 // apply: a step failed (rolled back or not)
	exitBusy       = 5 // apply: another apply holds the zone lock
	exitSignal     = 128
)

// exitStatus is one row of the exit-code table: the code, the kind of
// failure --json reports with it (doc/schemas/error.schema.json), and its
// meaning.
type exitStatus struct {
	code    int
	kind    string
	meaning string
}

// exitStatuses is the one table of exit codes: classify picks a row, and
// --json, the man pages and the tests read the kinds and meanings here.
var exitStatuses = []exitStatus{
	{exitOK, "", "success; apply: applied, or already applied"},
	{exitError, kindError, "error: I/O, configuration, or a bundle that could not be read; a bundle or var-file that is not there (apply records nothing)"},
	{exitUsage, kindUsage, "usage: an unknown flag, a missing argument, a flag value airlock cannot take, flags that exclude each other"},
	{exitVerify, kindRefused, "refused: a check failed; a bundle, receipt or audit is not to be trusted; apply: the receipt says refused"},
	{exitStepFailed, kindStepFailed, "apply: a step failed, or the state directory could not be written; the receipt says whether the zone was rolled back"},
	{exitBusy, kindBusy, "apply: another apply holds the zone lock"},
	{exitSignal, kindInterrupted, "128+N: interrupted by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP); an apply has written its receipt"},
}

// statusOf returns the row of code (128+N: the signal row).
func statusOf(code int) exitStatus {
	for _, s := range exitStatuses {
		if s.code == code || (s.code == exitSignal && code > exitSignal) {
			return s
		}
	}
	panic(fmt.Sprintf("airlock: exit code %d has no row in exitStatuses", code))
}

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &usageError{err: fmt.Errorf(format, a...)}
}

// runMain runs one command as the airlock program does: SIGINT, SIGTERM and
// SIGHUP (a closed console on Windows) interrupt it alike, a second one
// aborts the back-out steps of an interrupted apply (see package interrupt).
func runMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, abort, stop := interrupt.Notify(context.Background(), func(sig os.Signal, n int) {
		if n == 1 {
			fmt.Fprintf(stderr, "airlock: %s: stopping (an apply stops its step, rolls back and writes its receipt; send it again to stop the back-out steps too)\n", interrupt.Name(sig))
		} else {
			fmt.Fprintf(stderr, "airlock: %s again: stopping the back-out steps; a third signal ends airlock at once ('airlock apply --resume' finishes the apply)\n", interrupt.Name(sig))
		}
	})
	defer stop()
	return run(withAbort(ctx, abort), args, stdin, stdout, stderr)
}

// abortKey carries the abort context (the second signal) to commands.
type abortKey struct{}

func withAbort(ctx, abort context.Context) context.Context {
	return context.WithValue(ctx, abortKey{}, abort)
}

// abortOf returns the abort context that runMain set, or nil.
func abortOf(ctx context.Context) context.Context {
	a, _ := ctx.Value(abortKey{}).(context.Context)
	return a
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

// run executes one airlock command and returns its exit code. With
// --json it prints the command's result, and its error, as JSON (see
// output.go).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	out := &output{}
	cmd, err := root.ExecuteContextC(withOutput(ctx, out))
	if err != nil {
		if sig := interrupt.Cause(ctx); sig != nil && !errors.As(err, new(*interrupt.Signal)) {
			err = fmt.Errorf("%w (%w)", err, sig) // a command that stopped on the signal's cancellation
		}
	}
	if jsonRequested(cmd, args, err) {
		if werr := writeOutput(stdout, out, err); werr != nil && err == nil {
			err = werr
		}
	}
	if err == nil {
		return exitOK
	}
	// The message has control characters made visible (an error may quote
	// a bundle, a manifest or a receipt) and says what to do next about an
	// error of the operating system.
	f := classify(err)
	fmt.Fprintln(stderr, "airlock: "+f.Message)
	return f.ExitCode
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "airlock",
		Short: "Carry signed, encrypted releases across an air gap",
		Example: examples(
			"# trusted side: build a bundle for the zone",
			"airlock build examples/payments-api --key release.key --recipients-file zone/zone.recipient",
			"# in the zone: check it, see what it would do, apply it",
			"airlock verify payments-api-2.4.1.airlock --trust zone/trust.yaml",
			"airlock plan payments-api-2.4.1.airlock --trust zone/trust.yaml",
			"airlock apply payments-api-2.4.1.airlock --trust zone/trust.yaml --receipt-out /media/usb",
			"# the auditor: check the receipts carried back",
			"airlock audit /media/usb --key zone/receipt.pub"),
		Version:       appVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Checked here rather than by cobra, so that a missing required
		// flag, or exclusive flags given together, is a usageError like
		// every other usage mistake.
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if err := checkRequiredFlags(c); err != nil {
				return err
			}
			if err := c.ValidateFlagGroups(); err != nil {
				return &usageError{err: fmt.Errorf("%w (%s)", err, helpHint(c))}
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err: fmt.Errorf("%w (%s)", err, helpHint(c))}
	})
	for _, c := range commands() {
		root.AddCommand(c)
	}
	cobraCommands(root)
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
		return usageErrorf("required flag(s) %s not set (%s)", strings.Join(missing, ", "), helpHint(c))
	}
	return nil
}

// checkKeyFlag refuses a malformed pkcs11: URI given to a key flag as a
// usage error; a key file is read later (a missing file is exit 1).
func checkKeyFlag(flag, value string) error {
	if !pkcs11key.IsURI(value) {
		return nil
	}
	if _, err := pkcs11key.ParseURI(value); err != nil {
		return usageErrorf("--%s: %w", flag, err)
	}
	return nil
}

// wrapArgs makes argument-count errors usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		orig := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := orig(cmd, args); err != nil {
				return &usageError{err: fmt.Errorf("%w (%s)", err, helpHint(cmd))}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// helpHint points at the help of the command a usage mistake was made in.
func helpHint(c *cobra.Command) string {
	return "see '" + c.CommandPath() + " --help'"
}

// isRefusal reports whether err is a failed check or a refusal: exit 3.
func isRefusal(err error) bool {
	var bad *verify.Error
	var badReceipt *receipt.VerifyError
	var badFormat *bundle.FormatError
	var refused *apply.RefusedError
	var since *verify.SinceError
	return errors.As(err, &since) || errors.As(err, &bad) || errors.As(err, &badReceipt) || errors.Is(err, audit.ErrProblems) || errors.Is(err, blobsig.ErrInvalid) ||
		errors.As(err, &badFormat) || errors.As(err, &refused) || errors.Is(err, apply.ErrClockBehind)
}
