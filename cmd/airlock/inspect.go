package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
)

func newInspectCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect BUNDLE [--json]",
		Short: "Show what a bundle holds and will do, from its public parts (no keys)",
		Example: examples(
			"airlock inspect payments-api-2.4.1.airlock",
			"airlock inspect payments-api-2.4.1/ --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			in, err := bundle.Inspect(args[0])
			if err != nil {
				return err
			}
			report(c, in, printInspection)
			return nil
		},
	}
	addJSONFlag(c, "inspect.schema.json")
	return c
}

func printInspection(w io.Writer, in *bundle.Inspection) {
	// Everything below is what the bundle claims, written by its signer:
	// control characters are made visible (printable.String).
	p := in.Statement.Predicate
	q := printable.String
	fmt.Fprintf(w, "NOT VERIFIED: this shows what the bundle claims; run 'airlock verify' to check it.\n\n")
	fmt.Fprintf(w, "release   %s %s\n", q(p.Name), q(p.Version))
	fmt.Fprintf(w, "channel   %s, sequence %d\n", q(p.Channel), p.Sequence)
	fmt.Fprintf(w, "bundle    %s (%s), id %s\n", q(in.Path), in.Form, q(p.BundleID))
	fmt.Fprintf(w, "targets   %s\n", strings.Join(printable.Strings(p.Targets), ", "))
	fmt.Fprintf(w, "issued    %s, expires %s\n", p.IssuedAt.Format(time.RFC3339), p.Expires.Format(time.RFC3339))
	if c := p.Change; c != nil {
		fmt.Fprintf(w, "change    %s: %s\n", q(c.Ticket), q(c.Reason))
		var tested []receipt.TestEvidence
		for _, e := range c.TestEvidence {
			tested = append(tested, receipt.TestEvidence{Path: e.Path, SHA256: e.SHA256})
		}
		printChangeEvidence(w, c.SecurityImpact, c.Backout, tested)
	}
	fmt.Fprintf(w, "built by  %s %s\n", q(p.Builder.Tool), q(p.Builder.Version))
	fmt.Fprintf(w, "signed by %s\n", strings.Join(printable.Strings(in.KeyIDs), ", "))
	fmt.Fprintf(w, "payload   %d part(s), %s encrypted, %s plaintext, %d entries\n",
		len(p.Payload.Parts), humanBytes(p.Payload.Size), humanBytes(p.Payload.PlaintextSize), p.Payload.Entries)
	printInspectDelta(w, in)
	for _, pr := range in.Problems {
		fmt.Fprintf(w, "PROBLEM   %s\n", q(pr))
	}
	m := in.Manifest
	if m == nil {
		return
	}
	fmt.Fprintf(w, "\npackages\n")
	for _, pk := range m.Packages {
		fmt.Fprintf(w, "  %-20s %d files, %s\n", q(pk.Name), pk.Files, humanBytes(pk.Size))
	}
	printManifestImages(w, m)
	fmt.Fprintf(w, "\nvariables\n")
	for _, v := range m.Variables {
		flag := ""
		if v.Sensitive {
			flag = " (sensitive)"
		}
		for _, sc := range []struct {
			what  string
			names []string
		}{{"zone", v.Zones}, {"role", v.Roles}, {"host", v.Hosts}} {
			if len(sc.names) > 0 {
				flag += " " + sc.what + " values: " + strings.Join(printable.Strings(sc.names), ", ")
			}
		}
		fmt.Fprintf(w, "  %s%s\n", q(v.Name), flag)
	}
	fmt.Fprintf(w, "\nsteps\n")
	for i, s := range m.Steps {
		fmt.Fprintf(w, "  %d. %-20s %s\n", i+1, q(s.Name), describeStep(s))
	}
}

// describeStep describes a step on one line, with its references as
// written and its signed text made visible: the first line of its
// description (plan shows all of it), its kind and when it runs.
func describeStep(s bundle.Step) string {
	lines := s.Describe(func(text string) string { return text })
	what := printable.String(lines[0])
	if len(lines) > 1 {
		what += " …"
	}
	what += fmt.Sprintf(" [%s, when %s, timeout %s", s.Kind(), s.When, time.Duration(s.Timeout))
	if s.Retries > 0 {
		what += fmt.Sprintf(", retries %d", s.Retries)
	}
	if s.ContinueOnError {
		what += ", continue on error"
	}
	return what + "]"
}
