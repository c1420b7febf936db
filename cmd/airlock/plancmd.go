package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/zone"
)

type planOptions struct {
	bundle   string
	trust    string
	varFile  string
	secrets  secretOptions
	progress progressOptions
}

func newPlanCommand() *cobra.Command {
	var o planOptions
	c := &cobra.Command{
		Use:   "plan BUNDLE --trust trust.yaml [--json]",
		Short: "Verify and decrypt a bundle and show what apply would run; runs nothing",
		Example: examples(
			"airlock plan payments-api-2.4.1.airlock --trust zone/trust.yaml",
			"airlock plan payments-api-2.4.1.airlock --trust zone/trust.yaml --var-file zone-values.yaml --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.bundle = args[0]
			return runPlan(c, o)
		},
	}
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	c.Flags().StringVar(&o.varFile, "var-file", "", "YAML file of zone values for variables the bundle declares (each a literal or {fromFile: PATH})")
	o.progress.addFlags(c)
	addJSONFlag(c, "plan.schema.json")
	o.secrets.addPassphraseFlag(c)
	_ = c.MarkFlagRequired("trust")
	return c
}

func runPlan(c *cobra.Command, o planOptions) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	rep, done := o.progress.reporter(c)
	plan, err := apply.MakePlan(c.Context(), apply.Options{Bundle: o.bundle, Trust: t, VarFile: o.varFile, Stderr: c.ErrOrStderr(),
		Secrets: o.secrets.source(c.ErrOrStderr()), Progress: rep})
	done()
	if plan != nil {
		plan.Variables, plan.Steps = orEmptyList(plan.Variables), orEmptyList(plan.Steps)
		report(c, plan, func(w io.Writer, plan *apply.Plan) { printPlan(w, plan, err == nil, planWhere(t.Policy)) })
	}
	return err
}

// printPlan prints the checks, and, when the bundle verified, what apply
// would do. Names, values and commands come from the bundle and the
// zone's variables: control characters are made visible, never sent to
// the approver's terminal.
func printPlan(w io.Writer, plan *apply.Plan, verified bool, where string) {
	printChecks(w, plan.Checks)
	if !verified {
		return
	}
	p := plan.Bundle
	q := printable.String
	fmt.Fprintf(w, "\nplan for %s %s (channel %s, sequence %d) in %s\n", q(p.Name), q(p.Version), q(p.Channel), p.Sequence, where)
	if plan.AlreadyApplied {
		fmt.Fprintln(w, "already applied: apply would run nothing (use --force-reapply to run it again)")
	}
	fmt.Fprintln(w, "\nvariables (and where each value comes from)")
	width := 20 // names as long as key paths widen the column, up to a limit
	for _, v := range plan.Variables {
		if n := utf8.RuneCountInString(q(v.Name)); n > width && n <= maxNameColumn {
			width = n
		}
	}
	for _, v := range plan.Variables {
		val := v.Value
		if v.Sensitive {
			val = "(sensitive)"
		}
		fmt.Fprintf(w, "  %-*s %s  (%s)\n", width, q(v.Name), q(val), q(v.Source))
	}
	printPlanImages(w, plan.Images)
	fmt.Fprintln(w, "\nsteps")
	for i, s := range plan.Steps {
		fmt.Fprintf(w, "  %d. %s [%s, when %s]\n     %s\n", i+1, q(s.Name), q(string(s.Kind)), q(string(s.When)), indent(printable.Text(s.What)))
	}
}

// maxNameColumn is the widest the column of variable names grows.
const maxNameColumn = 60

// planWhere names the zone and host a plan is for, and the host's roles.
func planWhere(p *zone.Policy) string {
	q := printable.String
	where := fmt.Sprintf("zone %s, host %s", q(p.Zone), q(p.Host))
	if len(p.HostRoles) > 0 {
		where += " (roles " + strings.Join(printable.Strings(p.HostRoles), ", ") + ")"
	}
	return where
}

func indent(s string) string {
	out := []rune{}
	for _, r := range s {
		out = append(out, r)
		if r == '\n' {
			out = append(out, []rune("     ")...)
		}
	}
	return string(out)
}
