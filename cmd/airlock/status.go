package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

type statusOptions struct {
	trust string
}

func newStatusCommand() *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status --trust trust.yaml [--json]",
		Short: "Show what is deployed in this zone: each deploy target's release, and the bundle, receipt, time and operator that put it there",
		Example: examples(
			"airlock status --trust zone/trust.yaml",
			"airlock status --trust zone/trust.yaml --json"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runStatus(c, o) },
	}
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	addJSONFlag(c, "status.schema.json")
	_ = c.MarkFlagRequired("trust")
	return c
}

type historyOptions struct {
	trust string
	n     int
}

func newHistoryCommand() *cobra.Command {
	var o historyOptions
	c := &cobra.Command{
		Use:   "history --trust trust.yaml [--json] [-n N]",
		Short: "List this zone's receipts, newest first, one line each",
		Example: examples(
			"airlock history --trust zone/trust.yaml -n 10",
			"airlock history --trust zone/trust.yaml --json"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.n < 0 {
				return usageErrorf("-n %d: want a number of receipts, or 0 for all", o.n)
			}
			return runHistory(c, o)
		},
	}
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	addJSONFlag(c, "history.schema.json")
	c.Flags().IntVarP(&o.n, "number", "n", 0, "show the newest N receipts only (0: all)")
	_ = c.MarkFlagRequired("trust")
	return c
}

func runStatus(c *cobra.Command, o statusOptions) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	st, err := apply.ReadStatus(t)
	if st != nil {
		report(c, st, printStatus)
	}
	return err
}

// historyReport is history's JSON: the receipts, newest first, and the
// same grouped by application.
type historyReport struct {
	Receipts     []apply.HistoryEntry `json:"receipts"`
	Applications []historyApplication `json:"applications"`
}

// historyApplication is an application's receipts, by seq, newest first.
// The zone's control records, and entries that name no application, are
// under the name "".
type historyApplication struct {
	Name     string   `json:"name"`
	Receipts []uint64 `json:"receipts"`
}

// byApplication groups history entries by application: applications by
// name, then the entries of none; each group newest first.
func byApplication(h []apply.HistoryEntry) []historyApplication {
	idx := map[string]int{}
	var out []historyApplication
	for _, e := range h {
		i, ok := idx[e.Application]
		if !ok {
			i = len(out)
			idx[e.Application] = i
			out = append(out, historyApplication{Name: e.Application, Receipts: []uint64{}})
		}
		out[i].Receipts = append(out[i].Receipts, e.Receipt.Seq)
	}
	slices.SortStableFunc(out, func(a, b historyApplication) int {
		switch {
		case a.Name == "" && b.Name != "":
			return 1
		case b.Name == "" && a.Name != "":
			return -1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

func runHistory(c *cobra.Command, o historyOptions) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	h, err := apply.ReadHistory(t, o.n)
	if h != nil || err == nil {
		report(c, historyReport{Receipts: orEmptyList(h), Applications: orEmptyList(byApplication(h))}, func(w io.Writer, r historyReport) { printHistory(w, r.Receipts) })
	}
	return err
}

func orEmptyList[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// operatorText is who ran an apply: the OS account, and --operator.
func operatorText(op receipt.Operator) string {
	s := printable.String(op.User)
	if op.Name != "" {
		s += " (" + printable.String(op.Name) + ")"
	}
	return s
}

func bundleText(b apply.StatusBundle) string {
	if b.Name == "" {
		return "(no bundle)"
	}
	return fmt.Sprintf("%s %s (channel %s, sequence %d)", printable.String(b.Name), printable.String(b.Version), printable.String(b.Channel), b.Sequence)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return printable.String(s)
}

// printStatus prints the status grouped by application: its roots, each
// of its deploy targets and its channels.
func printStatus(w io.Writer, st *apply.ZoneStatus) {
	fmt.Fprintf(w, "zone %s, host %s: %d receipts in %s\n", printable.String(st.Zone), printable.String(st.Host), st.Receipts, printable.String(st.StateDir))
	if st.Interrupted {
		fmt.Fprintln(w, "an apply is in progress or was interrupted: the next apply (or apply --resume) finishes it")
	}
	if len(st.Targets) == 0 {
		fmt.Fprintln(w, "\nno release has been deployed")
	}
	for _, app := range st.Applications {
		fmt.Fprintf(w, "\napplication %s", printable.String(app.Name))
		if len(app.Roots) > 0 {
			fmt.Fprintf(w, "  (roots %s)", printable.String(strings.Join(app.Roots, ", ")))
		}
		fmt.Fprintln(w)
		if len(app.Targets) == 0 && len(app.Channels) == 0 {
			fmt.Fprintln(w, "  nothing deployed")
		}
		for _, t := range st.Targets {
			if t.Application == app.Name {
				printTarget(w, t)
			}
		}
		for _, c := range st.Channels {
			if c.Name == app.Name {
				fmt.Fprintf(w, "  channel %s  sequence %d  %s  bundle %s  receipt %d  %s\n", printable.String(c.Channel),
					c.Sequence, printable.String(c.Version), printable.String(c.BundleID), c.Receipt, timeText(c.AppliedAt))
			}
		}
	}
	printStatusImages(w, st.Images)
	printProblems(w, st.Problems)
}

// printStatusImages lists the images pushed to the zone's registry.
func printStatusImages(w io.Writer, images []receipt.Image) {
	if len(images) == 0 {
		return
	}
	fmt.Fprintf(w, "\nimages in the zone's registry\n")
	for _, im := range images {
		fmt.Fprintf(w, "  %-20s %s  %s\n", printable.String(im.Name), printable.String(im.Reference), printable.String(im.Outcome))
	}
}

func printTarget(w io.Writer, t apply.TargetStatus) {
	fmt.Fprintf(w, "  %s\n", printable.String(t.Target))
	fmt.Fprintf(w, "    current   %s  %s\n", printable.String(t.Current), bundleText(t.Bundle))
	fmt.Fprintf(w, "    previous  %s\n", orNone(t.Previous))
	if t.Link != t.Current {
		fmt.Fprintf(w, "    WARNING   current now points to %s, not where the receipt left it\n", orNone(t.Link))
	}
	fmt.Fprintf(w, "    bundle    %s\n", printable.String(t.Bundle.ID))
	fmt.Fprintf(w, "    receipt   %d  %s\n", t.Receipt.Seq, printable.String(t.Receipt.File))
	fmt.Fprintf(w, "    applied   %s by %s\n", timeText(t.AppliedAt), operatorText(t.Operator))
	fmt.Fprintf(w, "    channel   highest sequence %d\n", t.ChannelSequence)
	if sf := t.SecretFiles; sf != nil {
		if len(sf.Changed)+len(sf.Missing) == 0 {
			fmt.Fprintf(w, "    secrets   %s holding a secret, as deployed", plural(sf.Files, "file", "files"))
		} else {
			changed := append(slices.Clone(sf.Changed), sf.Missing...)
			fmt.Fprintf(w, "    WARNING   %d of %s holding a secret changed (or gone) since deployed: %s", len(changed), plural(sf.Files, "file", "files"),
				printable.String(strings.Join(changed, ", ")))
		}
		if len(sf.Unchecked) > 0 {
			fmt.Fprintf(w, "; %d not checked (their digest key is not on this host)", len(sf.Unchecked))
		}
		fmt.Fprintln(w)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func printProblems(w io.Writer, problems []string) {
	if len(problems) == 0 {
		return
	}
	fmt.Fprintln(w, "\nproblems")
	for _, p := range problems {
		fmt.Fprintf(w, "  %s\n", printable.String(p))
	}
}

// printHistory prints the receipts grouped by application, newest first
// in each; the zone's control records and entries of no application last.
func printHistory(w io.Writer, h []apply.HistoryEntry) {
	if len(h) == 0 {
		fmt.Fprintln(w, "no receipts")
		return
	}
	for i, g := range byApplication(h) {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if g.Name == "" {
			fmt.Fprintln(w, "zone: control records, and receipts that name no application")
		} else {
			fmt.Fprintf(w, "application %s\n", printable.String(g.Name))
		}
		for _, e := range h {
			if e.Application == g.Name {
				fmt.Fprintln(w, historyLine(e))
			}
		}
	}
}

// historyLine is one receipt on one line.
func historyLine(e apply.HistoryEntry) string {
	if !e.Verified {
		return fmt.Sprintf("%6d  NOT VERIFIED  %s", e.Receipt.Seq, printable.String(e.Problem))
	}
	outcome := string(e.Outcome)
	if e.Reason != receipt.ReasonOK && string(e.Reason) != outcome {
		outcome += " (" + string(e.Reason) + ")"
	}
	what := bundleText(e.Bundle)
	switch e.Event {
	case receipt.EventGenesis:
		what = "genesis: the zone's first policy"
	case receipt.EventPolicy:
		what = "policy change committed"
	}
	line := fmt.Sprintf("%6d  %s  %-27s  %s  by %s", e.Receipt.Seq, timeText(e.Finished), printable.String(outcome), what, operatorText(e.Operator))
	if e.Outcome == receipt.Applied {
		switches := e.Releases
		if len(switches) == 0 && e.Release != nil {
			switches = []receipt.Release{*e.Release}
		}
		for i, r := range switches {
			sep := ", "
			if i == 0 {
				sep = "  "
			}
			line += sep + orNone(r.Target) + " -> " + printable.String(r.Current)
		}
	}
	line += imagesText(e.Images)
	if e.Resumed {
		line += "  (resumed)"
	}
	if e.Problem != "" {
		line += "  PROBLEM: " + printable.String(e.Problem)
	}
	return line
}
