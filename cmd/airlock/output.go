package main

import (
	"context"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/interrupt"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/verify"
)

// What a command prints, and where (README, "Output"):
//
//   - its result goes to standard output: text, or with --json one JSON
//     object that follows the command's schema in doc/schemas/;
//   - with --json a failure is JSON too, with the same exit code: the
//     result's object, when the command had one (a verification that
//     failed, a refused apply), with an "error" member, else an object of
//     only "error" (doc/schemas/error.schema.json);
//   - progress, step output under --json, warnings and errors go to
//     standard error.
//
// A command that reports a result
//
//  1. calls addJSONFlag(c, "NAME.schema.json") and adds that schema to
//     doc/schemas/ (and a case to TestJSONOutputsMatchSchemas);
//  2. hands its result to report (or reportStream), never printing JSON
//     itself: run writes it, with the error, in writeOutput;
//  3. has an Example (see TestExamples).

// jsonFlag asks a command for JSON.
const jsonFlag = "json"

// schemaAnnotation names, in a command's annotations, the file of
// doc/schemas/ that its --json output follows.
const schemaAnnotation = "airlock.dev/schema"

// addJSONFlag gives c the --json flag; its output follows
// doc/schemas/<schema>.
func addJSONFlag(c *cobra.Command, schema string) {
	c.Flags().Bool(jsonFlag, false, "print the result as one JSON object, also on failure (doc/schemas/"+schema+")")
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[schemaAnnotation] = schema
}

// jsonWanted reports whether c was given --json.
func jsonWanted(c *cobra.Command) bool {
	f := c.Flags().Lookup(jsonFlag)
	return f != nil && f.Value.String() == "true"
}

// output is what a command reported, for run to print as JSON.
type output struct {
	result   any  // the command's result (--json), nil if none
	streamed bool // the command wrote its JSON itself (reportStream)
}

type outputKey struct{}

func withOutput(ctx context.Context, o *output) context.Context {
	return context.WithValue(ctx, outputKey{}, o)
}

// outputOf returns the output that run set (a throwaway one if none).
func outputOf(ctx context.Context) *output {
	if o, ok := ctx.Value(outputKey{}).(*output); ok {
		return o
	}
	return &output{}
}

// report hands a command's result to the output: kept for run to print as
// JSON with --json, else printed now as text.
func report[T any](c *cobra.Command, v T, text func(io.Writer, T)) {
	if jsonWanted(c) {
		outputOf(c.Context()).result = v
		return
	}
	text(c.OutOrStdout(), v)
}

// reportStream is report for a result too large to hold as JSON: with
// --json write prints it now, and run prints nothing more, not even an
// error (the audit's report is printed exactly as its attestation digests
// it; its summary says why the audit failed).
func reportStream(c *cobra.Command, write, text func(io.Writer) error) error {
	if jsonWanted(c) {
		outputOf(c.Context()).streamed = true
		return write(c.OutOrStdout())
	}
	return text(c.OutOrStdout())
}

// narration is where a command's running commentary goes (apply's steps
// and their output): standard output, or standard error under --json,
// nowhere under --quiet.
func narration(c *cobra.Command, quiet bool) io.Writer {
	switch {
	case quiet:
		return io.Discard
	case jsonWanted(c):
		return c.ErrOrStderr()
	}
	return c.OutOrStdout()
}

// jsonRequested reports whether the command run asked for JSON: --json
// was parsed, or, on a usage error (the flags may not have been parsed,
// the command may not be one that takes --json), it is among the
// arguments.
func jsonRequested(c *cobra.Command, args []string, err error) bool {
	if c != nil && jsonWanted(c) {
		return true
	}
	var usage *usageError
	if !errors.As(err, &usage) {
		return false
	}
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	return slices.Contains(args, "--json") || slices.Contains(args, "--json=true")
}

// jsonDocument is what --json prints: the result's members, and "error"
// on failure.
type jsonDocument struct {
	Error  *failure       `json:"error,omitempty"`
	Result jsontext.Value `json:",embed"`
}

// writeOutput prints the JSON of a command run: its result, with the
// error object when err is not nil. It prints nothing when there is
// neither (help) or when the command wrote its JSON itself.
func writeOutput(w io.Writer, o *output, err error) error {
	if o.streamed || (o.result == nil && err == nil) {
		return nil
	}
	var doc jsonDocument
	if err != nil {
		f := classify(err)
		doc.Error = &f
	}
	if o.result != nil {
		raw, merr := json.Marshal(o.result)
		if merr != nil {
			return fmt.Errorf("json output: %w", merr)
		}
		if jsontext.Value(raw).Kind() != '{' {
			return fmt.Errorf("json output: the result is a JSON %s, not an object", jsontext.Value(raw).Kind())
		}
		doc.Result = raw
	}
	if merr := jsonv2.MarshalWrite(w, doc, json.DefaultOptionsV1(), jsontext.WithIndent("  ")); merr != nil {
		return fmt.Errorf("json output: %w", merr)
	}
	_, werr := io.WriteString(w, "\n")
	return werr
}

// writeJSON prints v as indented JSON (what writeOutput prints for v).
func writeJSON(w io.Writer, v any) error {
	return writeOutput(w, &output{result: v}, nil)
}

// failure is the error object of --json output
// (doc/schemas/error.schema.json).
type failure struct {
	// ExitCode is the process's exit code, and Kind its meaning.
	ExitCode int    `json:"exitCode"`
	Kind     string `json:"kind"`
	// Check is the check that failed (a verification failure).
	Check string `json:"check,omitempty"`
	// Reason is the receipt's reason of a refused apply.
	Reason string `json:"reason,omitempty"`
	// Signal is the signal that interrupted the command.
	Signal string `json:"signal,omitempty"`
	// Message is the error, control characters made visible.
	Message string `json:"message"`
}

// Kinds of failure, one per exit code (see exitStatuses).
const (
	kindError       = "error"
	kindUsage       = "usage"
	kindRefused     = "refused"
	kindStepFailed  = "step-failed"
	kindBusy        = "busy"
	kindInterrupted = "interrupted"
)

// classify says what err means for the caller: the exit code and its
// kind, the failed check and the refusal's reason, and the message —
// for an error of the operating system, with what to do next (nextStep). It is the only place
// that maps errors to exit codes, and it decides by the error's type,
// never by its text.
func classify(err error) failure {
	f := failure{ExitCode: exitError, Message: printable.Text(err.Error())}
	var bad *verify.Error
	if errors.As(err, &bad) {
		f.Check = string(bad.Check)
	}
	var refused *apply.RefusedError
	if errors.As(err, &refused) {
		f.Reason = string(refused.Reason)
	}
	var usage *usageError
	var sig *interrupt.Signal
	switch {
	case errors.As(err, &usage):
		f.ExitCode = exitUsage
	case errors.As(err, &sig):
		f.ExitCode, f.Signal = sig.ExitCode(), interrupt.Name(sig.Sig)
	case isRefusal(err):
		f.ExitCode = exitVerify
	case errors.Is(err, apply.ErrStepFailed), errors.Is(err, apply.ErrStateWrite):
		f.ExitCode = exitStepFailed
	case errors.Is(err, apply.ErrBusy):
		f.ExitCode = exitBusy
	}
	f.Kind = statusOf(f.ExitCode).kind
	if f.ExitCode == exitError {
		if next := nextStep(err); next != "" {
			f.Message += " (" + next + ")"
		}
	}
	return f
}
