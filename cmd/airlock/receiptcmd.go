package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

func newReceiptCommand() *cobra.Command {
	c := &cobra.Command{Use: "receipt", Short: "Verify or show apply receipts",
		Example: examples(
			"airlock receipt verify media/receipt-pci-east-app-01-0000000003.dsse.json --key receipt.pub",
			"airlock receipt show media/receipt-pci-east-app-01-0000000003.dsse.json")}
	groupCommand(c)
	c.AddCommand(newReceiptVerifyCommand(), newReceiptShowCommand())
	return c
}

type receiptVerifyOptions struct {
	path   string
	keys   []string
	bundle string
}

func newReceiptVerifyCommand() *cobra.Command {
	var o receiptVerifyOptions
	c := &cobra.Command{
		Use:   "verify RECEIPT --key receipt.pub [--bundle BUNDLE] [--json]",
		Short: "Check a receipt's signature, type and (with --bundle) that it is about that bundle",
		Example: examples(
			"airlock receipt verify media/receipt-pci-east-app-01-0000000003.dsse.json --key receipt.pub",
			"airlock receipt verify media/receipt-pci-east-app-01-0000000003.dsse.json --key receipt.pub --bundle payments-api-2.4.1.airlock --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.path = args[0]
			return runReceiptVerify(c, o)
		},
	}
	c.Flags().StringArrayVar(&o.keys, "key", nil, "zone receipt public key (repeatable) (required)")
	c.Flags().StringVar(&o.bundle, "bundle", "", "check that the receipt is about this bundle")
	addJSONFlag(c, "receipt-verify.schema.json")
	_ = c.MarkFlagRequired("key")
	return c
}

func readReceiptFile(path string) ([]byte, error) {
	data, err := capped.ReadFile(path, receipt.MaxSize)
	var tl *capped.TooLargeError
	if errors.As(err, &tl) {
		return nil, &receipt.VerifyError{Reason: tl.Error()}
	}
	return data, err
}

func runReceiptVerify(c *cobra.Command, o receiptVerifyOptions) error {
	trusted, err := keys.LoadPublicFiles(o.keys)
	if err != nil {
		return err
	}
	data, err := readReceiptFile(o.path)
	if err != nil {
		return err
	}
	var b *bundle.Bundle
	if o.bundle != "" {
		if b, err = bundle.Open(o.bundle); err != nil {
			return err
		}
		defer b.Close()
	}
	r, err := verify.Receipt(data, trusted, b)
	if err != nil {
		return fmt.Errorf("%s: %w", o.path, err)
	}
	report(c, &r.Statement, func(w io.Writer, _ *receipt.Statement) { printVerifiedReceipt(w, r, o.bundle) })
	return nil
}

// printVerifiedReceipt prints what receipt verify established. (Its JSON
// is the receipt's statement.)
func printVerifiedReceipt(w io.Writer, r *receipt.Receipt, bundlePath string) {
	p := r.Predicate()
	q := printable.String
	fmt.Fprintf(w, "verified receipt %d of zone %s, signed by %s\n", p.Seq, q(p.Zone), r.Signer.ID())
	fmt.Fprintf(w, "outcome  %s (%s) for %s %s, sequence %d\n", q(string(p.Outcome.Result)), q(string(p.Outcome.Reason)), q(p.Bundle.Name), q(p.Bundle.Version), p.Bundle.Sequence)
	fmt.Fprintf(w, "sha256   %s (the next receipt's prevSha256)\n", r.SHA256)
	if r.Operator != nil {
		fmt.Fprintf(w, "co-signed by operator %s (%s)\n", q(p.Operator.Key.Name), r.Operator.ID())
	}
	if bundlePath != "" {
		fmt.Fprintf(w, "bundle   matches %s\n", q(bundlePath))
	}
}

func newReceiptShowCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "show RECEIPT [--json]",
		Short: "Print a receipt for a person (its signature is NOT checked: use receipt verify)",
		Example: examples(
			"airlock receipt show media/receipt-pci-east-app-01-0000000003.dsse.json",
			"airlock receipt show media/receipt-pci-east-app-01-0000000003.dsse.json --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			data, err := readReceiptFile(args[0])
			if err != nil {
				return err
			}
			r, err := receipt.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			report(c, shownReceipt{SHA256: r.SHA256, Statement: &r.Statement}, func(w io.Writer, _ shownReceipt) { showReceipt(w, r) })
			return nil
		},
	}
	addJSONFlag(c, "receipt-show.schema.json")
	return c
}

// shownReceipt is receipt show's JSON: the statement as the receipt holds
// it, its signature NOT checked.
type shownReceipt struct {
	Verified  bool               `json:"verified"` // always false: use receipt verify
	SHA256    string             `json:"sha256"`   // the link digest the next receipt names
	Statement *receipt.Statement `json:"statement"`
}

func showReceipt(w io.Writer, r *receipt.Receipt) {
	// Every value is what the receipt says: control characters in it are
	// made visible (printable.String), never sent to the terminal.
	p := r.Predicate()
	q := printable.String
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	fmt.Fprintf(w, "NOT VERIFIED: run 'airlock receipt verify' to check the signature.\n\n")
	fmt.Fprintf(w, "receipt   %d of zone %s (id %s), event %s\n", p.Seq, q(p.Zone), q(p.ReceiptID), q(string(p.EventOf())))
	fmt.Fprintf(w, "previous  %s\n", q(orDash(p.PrevSHA256)))
	fmt.Fprintf(w, "outcome   %s (%s) %s\n", q(strings.ToUpper(string(p.Outcome.Result))), q(string(p.Outcome.Reason)), q(p.Outcome.Message))
	b := p.Bundle
	verified := "verified"
	if !b.Verified {
		verified = "NOT verified: fields are what the bundle claimed"
	}
	if !p.EventOf().IsControl() {
		fmt.Fprintf(w, "bundle    %s %s, channel %s, sequence %d, id %s (%s)\n", q(b.Name), q(b.Version), q(b.Channel), b.Sequence, q(b.ID), verified)
	}
	if b.ChangeTicket != "" {
		fmt.Fprintf(w, "change    %s: %s\n", q(b.ChangeTicket), q(b.ChangeReason))
	}
	printChangeEvidence(w, b.ChangeSecurityImpact, b.ChangeBackout, b.ChangeTestEvidence)
	for _, s := range b.Signers {
		fmt.Fprintf(w, "signer    %s %s %s\n", q(s.Role), q(s.KeyID), q(s.Name))
	}
	op := p.Operator
	fmt.Fprintf(w, "operator  %s (uid %s)", q(op.User), q(op.UID))
	if op.Name != "" {
		fmt.Fprintf(w, ", %s", q(op.Name))
	}
	if op.SudoUser != "" {
		fmt.Fprintf(w, ", via sudo by %s (uid %s)", q(op.SudoUser), q(op.SudoUID))
	}
	if op.LoginUID != "" {
		fmt.Fprintf(w, ", login uid %s %s", q(op.LoginUID), q(op.LoginUser))
	}
	if op.Terminal != "" {
		fmt.Fprintf(w, ", on %s", q(op.Terminal))
	}
	if op.Note != "" {
		fmt.Fprintf(w, ", note: %s", q(op.Note))
	}
	fmt.Fprintln(w)
	if op.Key != nil {
		fmt.Fprintf(w, "co-signed %s (%s)\n", q(op.Key.Name), q(op.Key.KeyID))
	}
	fmt.Fprintf(w, "host      %s (%s/%s), airlock %s\n", q(p.Host.Name), q(p.Host.OS), q(p.Host.Arch), q(p.Applier.Version))
	fmt.Fprintf(w, "time      %s to %s (%s)\n", ts(p.Time.Started), ts(p.Time.Finished), q(p.Time.Source))
	if c := p.Time.Clock; c != nil {
		sync := "synchronised"
		if !c.Synchronised {
			sync = "UNSYNCHRONISED"
		}
		fmt.Fprintf(w, "clock     %s, estimated error %d µs, maximum %d µs (%s%s)\n", sync, c.EstimatedErrorMicros, c.MaxErrorMicros, q(c.Method), q(orEmpty(", ", c.Service)))
	}
	if pol := p.Policy; pol != nil {
		fmt.Fprintf(w, "policy    trust.yaml sha256 %s\n", q(pol.SHA256))
		for _, r := range pol.Roles {
			var ks []string
			for _, k := range r.Keys {
				ks = append(ks, strings.TrimSpace(k.KeyID+" "+k.Name))
			}
			fmt.Fprintf(w, "  role    %s, %d of %s\n", q(r.Name), r.Threshold, q(strings.Join(ks, ", ")))
		}
		for _, k := range pol.Operators {
			fmt.Fprintf(w, "  operator %s %s\n", q(k.KeyID), q(k.Name))
		}
	}
	if pc := p.PolicyChange; pc != nil {
		for _, d := range pc.Changes {
			fmt.Fprintf(w, "changed   %s\n", q(d.Detail))
		}
	}
	for _, o := range p.Override {
		fmt.Fprintf(w, "override  %s: %s\n", q(o.Name), q(o.Detail))
	}
	fmt.Fprintf(w, "\nchecks\n")
	for _, ch := range p.Checks {
		fmt.Fprintf(w, "  %-4s %-15s %s\n", q(string(ch.Result)), q(string(ch.Name)), q(ch.Detail))
	}
	fmt.Fprintf(w, "\nsteps\n")
	for _, s := range p.Steps {
		fmt.Fprintf(w, "  %-10s %-20s %-8s attempts %d, exit %d", q(string(s.Result)), q(s.Name), q(s.When), s.Attempts, s.ExitCode)
		if s.Error != "" {
			fmt.Fprintf(w, ": %s", q(s.Error))
		}
		fmt.Fprintln(w)
	}
	for _, pr := range p.LeftRunning {
		fmt.Fprintf(w, "  running  pid %d %s", pr.PID, q(pr.Name))
		if pr.Step != "" {
			fmt.Fprintf(w, ", started by step %s", q(pr.Step))
		}
		fmt.Fprintln(w)
	}
	printReceiptImages(w, p.Images)
	if p.Release != nil {
		fmt.Fprintf(w, "\nrelease   current %s (previous %s)", q(orDash(p.Release.Current)), q(orDash(p.Release.Previous)))
		if a := p.Release.Application; a != "" {
			fmt.Fprintf(w, " of application %s", q(a))
		}
		fmt.Fprintln(w)
		if p.Release.Adopted {
			fmt.Fprintf(w, "adopted   %s had no owner recorded: it now belongs to this application\n", q(p.Release.Target))
		}
		for _, d := range p.Release.Pruned {
			fmt.Fprintf(w, "pruned    %s\n", q(d))
		}
	}
	if p.FilesTotal > 0 {
		fmt.Fprintf(w, "files     %d deployed, listed in %s (sha256 %s)\n", p.FilesTotal, q(p.FilesList), q(p.FilesSHA256))
	}
	printInventory(w, p)
	if len(p.Variables) > 0 {
		fmt.Fprintf(w, "variables %s (names only)\n", strings.Join(printable.Strings(p.Variables), ", "))
	}
	for _, v := range p.VariableSources {
		if v.Replaced {
			fmt.Fprintf(w, "zone value %s from %s\n", q(v.Name), q(v.Where()))
		}
	}
	if p.Logs != nil {
		fmt.Fprintf(w, "logs      %s (age-encrypted to the auditors)\n", q(p.Logs.Name))
	}
}

// printChangeEvidence prints a change's security impact, back-out
// procedure and test evidence, when given.
func printChangeEvidence(w io.Writer, impact, backout string, tested []receipt.TestEvidence) {
	q := printable.String
	if impact != "" {
		fmt.Fprintf(w, "impact    %s\n", q(impact))
	}
	if backout != "" {
		fmt.Fprintf(w, "back-out  %s\n", q(backout))
	}
	for _, e := range tested {
		fmt.Fprintf(w, "tested    %s (sha256 %s)\n", q(e.Path), q(e.SHA256))
	}
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
