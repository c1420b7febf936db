package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

type verifyOptions struct {
	bundle   string
	trust    string
	keys     []string
	progress progressOptions
}

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	c := &cobra.Command{
		Use:   "verify BUNDLE (--trust trust.yaml | --key PUB [--key PUB…]) [--json]",
		Short: "Check a bundle's signatures and digests, without decrypting it",
		Long: `Check a bundle without any secret: the statement's signatures against the
trust policy (--trust) or the given release keys (--key: release role,
threshold 1, no zone check), its type, format version, expiry, target zone,
the manifest digest and every payload part's size and sha256. Stops at the
first failure and exits 3.`,
		Example: examples(
			"airlock verify payments-api-2.4.1.airlock --trust zone/trust.yaml --progress always",
			"# before signing as an approver, with the release key alone",
			"airlock verify payments-api-2.4.1.airlock --key release.pub --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.bundle = args[0]
			return runVerify(c, o)
		},
	}
	c.Flags().StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml)")
	c.Flags().StringArrayVar(&o.keys, "key", nil, "trusted release public key (repeatable)")
	o.progress.addFlags(c)
	addJSONFlag(c, "verify-result.schema.json")
	c.MarkFlagsMutuallyExclusive("trust", "key")
	c.MarkFlagsOneRequired("trust", "key")
	return c
}

func loadPolicy(trust string, keyFiles []string) (*zone.Policy, error) {
	if trust != "" {
		t, err := zone.Load(trust)
		if err != nil {
			return nil, err
		}
		return t.Policy, nil
	}
	ks, err := keys.LoadPublicFiles(keyFiles)
	if err != nil {
		return nil, err
	}
	return zone.KeysPolicy(ks), nil
}

func runVerify(c *cobra.Command, o verifyOptions) error {
	pol, err := loadPolicy(o.trust, o.keys)
	if err != nil {
		return err
	}
	b, err := bundle.Open(o.bundle)
	if err != nil {
		return err
	}
	defer b.Close()
	rep, done := o.progress.reporter(c)
	res, err := verify.Bundle(c.Context(), b, verify.Options{Policy: pol, Progress: rep})
	done()
	if res != nil {
		report(c, newVerifyReport(res), printVerify)
	}
	return err
}

// verifyReport is what verify reports: the checks run, in order, and the
// verified statement's predicate.
type verifyReport struct {
	Verified        bool              `json:"verified"`
	Checks          []receipt.Check   `json:"checks"`
	Signers         []receipt.Signer  `json:"signers"`
	StatementSHA256 string            `json:"statementSha256,omitempty"`
	Predicate       *bundle.Predicate `json:"predicate,omitempty"`
}

func newVerifyReport(res *verify.Result) verifyReport {
	r := verifyReport{res.Verified, res.Checks, res.Signers, res.StatementSHA256, nil}
	if res.Statement != nil {
		r.Predicate = &res.Statement.Predicate
	}
	return r
}

func printVerify(w io.Writer, r verifyReport) {
	printChecks(w, r.Checks)
	if r.Verified && r.Predicate != nil {
		p := r.Predicate
		q := printable.String
		fmt.Fprintf(w, "verified %s %s (channel %s, sequence %d, id %s)\n", q(p.Name), q(p.Version), q(p.Channel), p.Sequence, q(p.BundleID))
	}
}

func printChecks(w io.Writer, checks []receipt.Check) {
	for _, ch := range checks {
		mark := map[receipt.CheckResult]string{receipt.Pass: "ok  ", receipt.Fail: "FAIL", receipt.Skip: "skip"}[ch.Result]
		fmt.Fprintf(w, "%s %-15s %s\n", mark, printable.String(string(ch.Name)), printable.String(ch.Detail))
	}
}
