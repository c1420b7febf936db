package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/zone"
)

func newZoneCommand() *cobra.Command {
	c := &cobra.Command{Use: "zone", Short: "Set up a target zone",
		Example: examples(
			"airlock zone init /etc/airlock --zone pci-east --release-key release.pub",
			"airlock zone commit-policy --trust /etc/airlock/trust.yaml --operator 'Jane Doe'")}
	groupCommand(c)
	c.AddCommand(newZoneInitCommand(), newCommitPolicyCommand())
	return c
}

func newZoneInitCommand() *cobra.Command {
	var o zone.InitOptions
	c := &cobra.Command{
		Use:   "init DIR --zone NAME --release-key release.pub [--approve-key approver.pub]",
		Short: "Create a zone: age identity, receipt key and trust.yaml",
		Long: `Create a zone directory DIR with:
  zone.agekey      the age identity that decrypts bundles (secret, 0600)
  zone.recipient   its recipient: give it to release engineers for 'airlock build --recipient'
  receipt.key      the key that signs receipts (secret, 0600)
  receipt.pub      its public key: give it to auditors
  keys/            copies of the trusted release and approve keys
  trust.yaml       the zone's trust policy, complete as written
  state/receipts/  the zone's receipt chain, started with its genesis
                   record: seq 1, recording the policy

After editing trust.yaml, record the change with 'airlock zone
commit-policy' before the next apply.`,
		Example: examples(
			"airlock zone init /etc/airlock --zone pci-east --release-key release.pub",
			"airlock zone init zone --zone pci-east --release-key release.pub --approve-key approver.pub --pq --operator 'Zone Admin' --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Dir = args[0]
			o.Record.Version = version
			if !names.Valid(o.Zone) {
				return usageErrorf("--zone %q: want a name such as pci-east (%s)", o.Zone, names.Want)
			}
			z, err := zone.Init(o)
			if err != nil {
				return err
			}
			report(c, zoneInitReport{o.Zone, o.Dir, z.Trust, z.Recipient, z.ReceiptPub, z.Genesis}, printZoneInit)
			return nil
		},
	}
	addJSONFlag(c, "zone-init.schema.json")
	f := c.Flags()
	f.StringVar(&o.Zone, "zone", "", "zone name, e.g. pci-east (required)")
	f.StringArrayVar(&o.ReleaseKeys, "release-key", nil, "public key trusted for the release role (repeatable; required)")
	f.StringArrayVar(&o.ApproveKeys, "approve-key", nil, "public key trusted for the approve role (repeatable); makes approval mandatory")
	f.StringVar(&o.StateDir, "state", "", "state directory (default DIR/state)")
	f.BoolVar(&o.PostQuantum, "pq", false, "use a post-quantum hybrid age identity (age1pq1… recipient)")
	f.StringVar(&o.Record.Operator, "operator", "", "name of the person creating the zone (recorded in the genesis record)")
	f.StringVar(&o.Record.Note, "note", "", "free text recorded in the genesis record")
	_ = c.MarkFlagRequired("zone")
	_ = c.MarkFlagRequired("release-key")
	return c
}

type commitPolicyOptions struct {
	trust       string
	operator    string
	note        string
	operatorKey string
	receiptOut  string
	wait        time.Duration
	secrets     secretOptions
}

// zoneInitReport is what zone init made.
type zoneInitReport struct {
	Zone       string `json:"zone"`
	Dir        string `json:"dir"`
	Trust      string `json:"trust"`            // trust.yaml
	Recipient  string `json:"recipient"`        // the age recipient bundles are encrypted to
	ReceiptPub string `json:"receiptPublicKey"` // the receipt public key file, for auditors
	Genesis    string `json:"genesis"`          // the chain's first receipt
}

func printZoneInit(w io.Writer, z zoneInitReport) {
	fmt.Fprintf(w, "zone %s ready in %s\ntrust policy  %s\nrecipient     %s\nreceipt key   %s (for auditors)\ngenesis       %s\n",
		z.Zone, z.Dir, z.Trust, z.Recipient, z.ReceiptPub, z.Genesis)
}

func newCommitPolicyCommand() *cobra.Command {
	var o commitPolicyOptions
	c := &cobra.Command{
		Use:   "commit-policy --trust trust.yaml --operator NAME [--note TEXT] [--operator-key KEY] [--receipt-out DIR]",
		Short: "Record a changed trust.yaml as a signed entry of the zone's receipt chain",
		Long: `Record the policy trust.yaml now holds as the next entry of the zone's receipt
chain, signed by the zone's receipt key: the previous and new digest, what
changed (roles, thresholds, keys, operators, other settings), whether the
change weakens the policy, who committed it and why. An edited trust.yaml
is refused by apply (exit 3, reason policy-uncommitted) until it is
committed; airlock audit lists every commit and flags weakenings.

When the recorded policy requires operator co-signatures, the commit needs
--operator-key with one of its operators' keys.`,
		Example: examples(
			"airlock zone commit-policy --trust /etc/airlock/trust.yaml --operator 'Jane Doe' --note 'CHG-1042: second approver'",
			"airlock zone commit-policy --trust zone/trust.yaml --operator 'Jane Doe' --operator-key jane.key --receipt-out /media/usb --json"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runCommitPolicy(c, o) },
	}
	f := c.Flags()
	f.StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	f.StringVar(&o.operator, "operator", "", "name of the person committing the change (required)")
	f.StringVar(&o.note, "note", "", "why the policy changed (e.g. the change ticket)")
	f.StringVar(&o.operatorKey, "operator-key", "", "operator's private key: co-signs the record")
	o.secrets.addPasswordFlag(c)
	f.StringVar(&o.receiptOut, "receipt-out", "", "also copy the chain entries this folder lacks into it (the media carried back)")
	f.DurationVar(&o.wait, "wait", 0, "wait this long for an apply in progress to finish")
	addJSONFlag(c, "zone-commit-policy.schema.json")
	_ = c.MarkFlagRequired("trust")
	_ = c.MarkFlagRequired("operator")
	return c
}

func runCommitPolicy(c *cobra.Command, o commitPolicyOptions) error {
	if err := checkKeyFlag("operator-key", o.operatorKey); err != nil {
		return err
	}
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	opKey, err := loadOperatorKey(o.operatorKey, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	res, err := apply.CommitPolicy(c.Context(), apply.CommitOptions{Trust: t, Operator: o.operator, Note: o.note,
		OperatorKey: opKey, ReceiptOut: o.receiptOut, Wait: o.wait, Version: version, Stderr: c.ErrOrStderr()})
	if err != nil {
		return err
	}
	report(c, res, printCommitPolicy)
	return nil
}

func printCommitPolicy(w io.Writer, res *apply.CommitResult) {
	if res.Unchanged {
		fmt.Fprintf(w, "policy unchanged: trust.yaml is the policy receipt %d records; nothing to commit\n", res.Seq)
		return
	}
	if res.Change == nil {
		fmt.Fprintf(w, "genesis  the chain had no entry: recorded the policy as seq %d\n", res.Seq)
	} else {
		for _, d := range res.Change.Changes {
			mark := "change "
			if d.Weakens {
				mark = "WEAKENS"
			}
			fmt.Fprintf(w, "%s  %s\n", mark, d.Detail)
		}
	}
	fmt.Fprintf(w, "receipt  %s\n", res.Receipt)
	if res.ReceiptCopy != "" {
		fmt.Fprintf(w, "copy     %s\n", res.ReceiptCopy)
	}
}

// loadOperatorKey loads an operator's private key (--operator-key), asking
// for its password like any private key; "" is no key.
func loadOperatorKey(path string, pw keys.PasswordFunc) (*keys.Signer, error) {
	if path == "" {
		return nil, nil
	}
	k, err := keys.LoadPrivate(path, pw)
	if err != nil {
		return nil, fmt.Errorf("--operator-key: %w", err)
	}
	return k, nil
}
