package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/zone"
)

type planOptions struct {
	bundle  string
	trust   string
	varFile string
	json    bool
	secrets secretOptions
}

func newPlanCommand() *cobra.Command {
	var o planOptions
	c := &cobra.Command{
		Use:   "plan BUNDLE --trust trust.yaml [--json]",
		Short: "Verify and decrypt a bundle and show what apply would run; runs nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.bundle = args[0]
			return runPlan(c, o)
		},
	}
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	c.Flags().StringVar(&o.varFile, "var-file", "", "YAML file of zone values for variables the bundle declares")
	c.Flags().BoolVar(&o.json, "json", false, "print the plan as JSON")
	o.secrets.addPassphraseFlag(c)
	_ = c.MarkFlagRequired("trust")
	return c
}

func runPlan(c *cobra.Command, o planOptions) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	plan, err := apply.MakePlan(c.Context(), apply.Options{Bundle: o.bundle, Trust: t, VarFile: o.varFile, Stderr: c.ErrOrStderr(),
		Secrets: o.secrets.source(c.ErrOrStderr())})
	if plan != nil && o.json {
		enc := json.NewEncoder(c.OutOrStdout())
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(plan); jerr != nil {
			return jerr
		}
		return err
	}
	if plan != nil {
		printChecks(c.OutOrStdout(), plan.Checks)
	}
	if err != nil {
		return err
	}
	// Names, values and commands come from the bundle and the zone's
	// variables: control characters are made visible, never sent to the
	// approver's terminal.
	w := c.OutOrStdout()
	p := plan.Bundle
	q := printable.String
	where := fmt.Sprintf("zone %s, host %s", q(t.Policy.Zone), q(t.Policy.Host))
	if len(t.Policy.HostRoles) > 0 {
		where += " (roles " + strings.Join(printable.Strings(t.Policy.HostRoles), ", ") + ")"
	}
	fmt.Fprintf(w, "\nplan for %s %s (channel %s, sequence %d) in %s\n", q(p.Name), q(p.Version), q(p.Channel), p.Sequence, where)
	if plan.AlreadyApplied {
		fmt.Fprintln(w, "already applied: apply would run nothing (use --force-reapply to run it again)")
	}
	fmt.Fprintln(w, "\nvariables (and where each value comes from)")
	for _, v := range plan.Variables {
		val := v.Value
		if v.Sensitive {
			val = "(sensitive)"
		}
		fmt.Fprintf(w, "  %-20s %s  (%s)\n", q(v.Name), q(val), q(v.Source))
	}
	fmt.Fprintln(w, "\nsteps")
	for i, s := range plan.Steps {
		fmt.Fprintf(w, "  %d. %s [%s, when %s]\n     %s\n", i+1, q(s.Name), q(string(s.Kind)), q(string(s.When)), indent(printable.Text(s.What)))
	}
	return nil
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
