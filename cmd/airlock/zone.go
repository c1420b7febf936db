package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	hosts := &cobra.Command{Use: "host", Short: "The hosts of a zone",
		Example: examples(
			"airlock zone host add /media/zones/pci-east --host app-02 --roles web",
			"airlock zone host add /media/zones/pci-east --host db-01 --roles db --own-identity --json")}
	groupCommand(hosts)
	hosts.AddCommand(newHostAddCommand())
	c.AddCommand(newZoneInitCommand(), newCommitPolicyCommand(), newZoneCheckCommand(), hosts)
	return c
}

func newZoneInitCommand() *cobra.Command {
	var o zone.InitOptions
	c := &cobra.Command{
		Use:   "init DIR --zone NAME --release-key release.pub [--approve-key approver.pub] [--host NAME [--roles web,db] [--own-identity]]",
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

With --host, a zone of named hosts (a fleet), this host its first:
  zone.yaml        the zone register: hosts, roles, receipt public keys (for auditors)
  recipients.txt   every recipient bundles must be encrypted to (for the builder)
  zone.agekey      the zone identity the hosts share (not with --own-identity)
  hosts/NAME/      everything host NAME needs (its trust.yaml, receipt key,
                   identity, keys, state with its genesis record): copy it to the host
Add hosts with 'airlock zone host add'.

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
			report(c, zoneReportOf(o.Zone, o.Dir, z), printZoneInit)
			return nil
		},
	}
	addJSONFlag(c, "zone-init.schema.json")
	f := c.Flags()
	f.StringVar(&o.Zone, "zone", "", "zone name, e.g. pci-east (required)")
	f.StringArrayVar(&o.ReleaseKeys, "release-key", nil, "public key trusted for the release role (repeatable; required)")
	f.StringArrayVar(&o.ApproveKeys, "approve-key", nil, "public key trusted for the approve role (repeatable); makes approval mandatory")
	f.StringVar(&o.Host, "host", "", "make a zone of named hosts, with this one its first (DIR/hosts/NAME)")
	hostFlags(f, &o.Roles, &o.OwnIdentity, &o.StateDir, &o.PostQuantum, &o.Record)
	_ = c.MarkFlagRequired("zone")
	_ = c.MarkFlagRequired("release-key")
	return c
}

func newHostAddCommand() *cobra.Command {
	var o zone.HostOptions
	c := &cobra.Command{
		Use: "add DIR --host NAME [--roles web,db] [--own-identity]",
		Example: examples(
			"airlock zone host add zones/pci-east --host app-02 --roles web",
			"airlock zone host add zones/pci-east --host db-01 --roles db --own-identity --operator 'Zone Admin' --json"),
		Short: "Add a host to a zone: DIR/hosts/NAME with everything it needs",
		Long: `Add host NAME to the zone in DIR. DIR/hosts/NAME gets everything the host
needs: its trust.yaml (the signing roles, operators, settings and variables
of the zone's first host, with this host's name and roles), a receipt key
pair of its own, copies of the trusted keys, the zone's age identity — or,
with --own-identity, one of its own — and its state directory with the
genesis record of its receipt chain. The zone register (DIR/zone.yaml) and
the recipients file (DIR/recipients.txt) list it.

A zone made without --host gets its register now; its trust.yaml is the
policy the new host copies.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Dir = args[0]
			o.Record.Version = version
			z, err := zone.AddHost(o)
			if err != nil {
				return err
			}
			report(c, zoneReportOf(z.Zone, o.Dir, z), printZoneInit)
			return nil
		},
	}
	addJSONFlag(c, "zone-init.schema.json")
	f := c.Flags()
	f.StringVar(&o.Host, "host", "", "the new host's name, e.g. app-02 (required)")
	hostFlags(f, &o.Roles, &o.OwnIdentity, &o.StateDir, &o.PostQuantum, &o.Record)
	_ = c.MarkFlagRequired("host")
	return c
}

// hostFlags are the flags zone init and zone host add share: what a new
// host (or the zone's single host) gets.
func hostFlags(f *pflag.FlagSet, roles *[]string, own *bool, state *string, pq *bool, rec *zone.RecordOptions) {
	f.StringSliceVar(roles, "roles", nil, "the host's roles, for role: targets and byRole values (comma-separated; zone init: with --host)")
	f.BoolVar(own, "own-identity", false, "give the host an age identity of its own rather than the zone's: bundles are then encrypted to every host (zone init: with --host)")
	f.StringVar(state, "state", "", "state directory, relative to the host's trust.yaml (default state)")
	f.BoolVar(pq, "pq", false, "use a post-quantum hybrid age identity (age1pq1… recipient) when one is made")
	f.StringVar(&rec.Operator, "operator", "", "name of the person creating the zone or host (recorded in the genesis record)")
	f.StringVar(&rec.Note, "note", "", "free text recorded in the genesis record")
}

// printHost says what zone init --host and zone host add made, and what to
// hand to whom.
func printHost(w io.Writer, z zoneInitReport) {
	zoneName := z.Zone
	roles := "(none)"
	if len(z.Roles) > 0 {
		roles = strings.Join(z.Roles, ", ")
	}
	identity := "the zone's, shared (" + zone.ZoneIdentityFile + ")"
	if z.OwnIdentity {
		identity = "its own (" + zone.HostIdentity + ")"
	}
	fmt.Fprintf(w, "host %s of zone %s ready in %s\n  roles         %s\n  trust policy  %s\n  identity      %s, recipient %s\n  receipt key   %s\n  genesis       %s\n\n",
		z.Host, zoneName, z.HostDir, roles, z.Trust, identity, z.Recipient, z.ReceiptPub, z.Genesis)
	fmt.Fprintf(w, "copy to the host      %s/ (all of it; receipt.key and the identity are secret)\n", z.HostDir)
	n := fmt.Sprintf("%d recipients", z.RecipientCount)
	if z.RecipientCount == 1 {
		n = "1 recipient"
	}
	builder := fmt.Sprintf("give the builder      %s: airlock build -R %s (%s)", z.Recipients, z.Recipients, n)
	if z.OwnIdentity {
		builder += " — bundles must now be encrypted to every host's recipient"
	}
	fmt.Fprintln(w, builder)
	fmt.Fprintf(w, "give the auditor      %s: airlock audit RECEIPTS --zone-register %s\n", z.Register, z.Register)
	for _, n := range z.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

type commitPolicyOptions struct {
	trust       string
	operator    string
	note        string
	operatorKey string
	witnessKey  string
	receiptOut  string
	wait        time.Duration
	secrets     secretOptions
}

// zoneInitReport is what zone init and zone host add made; the host
// fields are set for a zone of named hosts.
type zoneInitReport struct {
	Zone       string `json:"zone"`
	Dir        string `json:"dir"`
	Trust      string `json:"trust"`            // trust.yaml
	Recipient  string `json:"recipient"`        // the age recipient bundles are encrypted to
	ReceiptPub string `json:"receiptPublicKey"` // the receipt public key file, for auditors
	Genesis    string `json:"genesis"`          // the chain's first receipt

	Host           string   `json:"host,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	HostDir        string   `json:"hostDir,omitempty"`        // what to copy to the host
	OwnIdentity    bool     `json:"ownIdentity,omitempty"`    // the host has an age identity of its own
	Register       string   `json:"register,omitempty"`       // zone.yaml, for auditors
	Recipients     string   `json:"recipientsFile,omitempty"` // for the builder
	RecipientCount int      `json:"recipientCount,omitempty"`
	Notes          []string `json:"notes,omitempty"`
}

func zoneReportOf(zoneName, dir string, z *zone.Created) zoneInitReport {
	return zoneInitReport{
		Zone: zoneName, Dir: dir, Trust: z.Trust, Recipient: z.Recipient, ReceiptPub: z.ReceiptPub, Genesis: z.Genesis,
		Host: z.Host, Roles: z.Roles, HostDir: z.HostDir, OwnIdentity: z.OwnIdentity, Register: z.Register,
		Recipients: z.Recipients, RecipientCount: z.RecipientCount, Notes: z.Notes,
	}
}

func printZoneInit(w io.Writer, z zoneInitReport) {
	if z.Host != "" {
		printHost(w, z)
		return
	}
	fmt.Fprintf(w, "zone %s ready in %s\ntrust policy  %s\nrecipient     %s\nreceipt key   %s (for auditors)\ngenesis       %s\n",
		z.Zone, z.Dir, z.Trust, z.Recipient, z.ReceiptPub, z.Genesis)
}

func newCommitPolicyCommand() *cobra.Command {
	var o commitPolicyOptions
	c := &cobra.Command{
		Use:   "commit-policy --trust trust.yaml (--operator NAME | --operator-key KEY) [--witness-key KEY] [--note TEXT] [--receipt-out DIR]",
		Short: "Record a changed trust.yaml as a signed entry of the zone's receipt chain",
		Long: `Record the policy trust.yaml now holds as the next entry of the zone's receipt
chain, signed by the zone's receipt key: the previous and new digest, what
changed (roles, thresholds, keys, operators, other settings), whether the
change weakens the policy, who committed it and why. An edited trust.yaml
is refused by apply (exit 3, reason policy-uncommitted) until it is
committed; airlock audit lists every commit and flags weakenings.

When the recorded policy requires operator co-signatures, the commit needs
--operator-key with one of its operators' keys; the record names the
person trust.yaml gives that key (--operator, if given too, must be that
name). When it requires two persons for a weakening
(requireTwoPersonForWeakening, on for new zones) and the change weakens
it, a second operator co-signs with --witness-key: two keys of two
persons. Adding the first operator to a zone that has none is its setup,
not a weakening.`,
		Example: examples(
			"airlock zone commit-policy --trust /etc/airlock/trust.yaml --operator 'Jane Doe' --note 'CHG-1042: second approver'",
			"airlock zone commit-policy --trust zone/trust.yaml --operator-key jane.key --receipt-out /media/usb --json",
			"airlock zone commit-policy --trust zone/trust.yaml --operator-key jane.key --witness-key omar.key --note 'CHG-1077: second release key'"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runCommitPolicy(c, o) },
	}
	f := c.Flags()
	f.StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	f.StringVar(&o.operator, "operator", "", "name of the person committing the change (required without --operator-key)")
	f.StringVar(&o.note, "note", "", "why the policy changed (e.g. the change ticket)")
	f.StringVar(&o.operatorKey, "operator-key", "", "operator's private key: co-signs the record, which names its person")
	f.StringVar(&o.witnessKey, "witness-key", "", "a second operator's private key: co-signs too (two persons, for a weakening)")
	o.secrets.addPasswordFlag(c)
	f.StringVar(&o.receiptOut, "receipt-out", "", "also copy the chain entries this folder lacks into it (the media carried back)")
	f.DurationVar(&o.wait, "wait", 0, "wait this long for an apply in progress to finish")
	addJSONFlag(c, "zone-commit-policy.schema.json")
	_ = c.MarkFlagRequired("trust")
	return c
}

func runCommitPolicy(c *cobra.Command, o commitPolicyOptions) error {
	if o.operator == "" && o.operatorKey == "" {
		return usageErrorf("give --operator NAME or --operator-key KEY: a policy commit names who made it")
	}
	if err := checkKeyFlag("witness-key", o.witnessKey); err != nil {
		return err
	}
	t, opKey, err := loadZoneOperator(c, o.trust, o.operatorKey, o.secrets)
	if err != nil {
		return err
	}
	witness, err := loadOperatorKey("witness-key", o.witnessKey, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	res, err := apply.CommitPolicy(c.Context(), apply.CommitOptions{Trust: t, Operator: o.operator, Note: o.note,
		OperatorKey: opKey, WitnessKey: witness, ReceiptOut: o.receiptOut, Wait: o.wait, Version: version, Stderr: c.ErrOrStderr()})
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

// loadZoneOperator loads the zone's trust.yaml and, if given, the
// operator's key (--operator-key): what apply and commit-policy start with.
func loadZoneOperator(c *cobra.Command, trust, operatorKey string, secrets secretOptions) (*zone.Trust, *keys.Signer, error) {
	if err := checkKeyFlag("operator-key", operatorKey); err != nil {
		return nil, nil, err
	}
	t, err := zone.Load(trust)
	if err != nil {
		return nil, nil, err
	}
	opKey, err := loadOperatorKey("operator-key", operatorKey, secrets.source(c.ErrOrStderr()))
	if err != nil {
		return nil, nil, err
	}
	return t, opKey, nil
}

// loadOperatorKey loads an operator's private key (--operator-key,
// --witness-key: flag), asking for its password like any private key; ""
// is no key.
func loadOperatorKey(flag, path string, pw keys.PasswordFunc) (*keys.Signer, error) {
	if path == "" {
		return nil, nil
	}
	k, err := keys.LoadPrivate(path, pw)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return k, nil
}

type zoneCheckOptions struct {
	trust      string
	receiptOut string
	wait       time.Duration
	secrets    secretOptions
}

func newZoneCheckCommand() *cobra.Command {
	var o zoneCheckOptions
	c := &cobra.Command{
		Use:   "check --trust trust.yaml [--receipt-out DIR]",
		Short: "Check that trust.yaml is the policy the receipt chain records, and record it if not",
		Long: `Compare trust.yaml with the policy the zone's receipt chain records. When
they differ — someone edited trust.yaml, or a key file it names, and nobody
committed the change — record that as the next entry of the chain (event
drift, signed by the receipt key; once per edit) and exit 3: every apply
would be refused (policy-uncommitted) until the change is committed with
'airlock zone commit-policy' or trust.yaml is restored. Exit 0 when they
are the same.

Run it from a timer (a systemd timer, cron) so that an edit nobody applies
under is on the record all the same; plan records drift the same way.`,
		Example: examples(
			"airlock zone check --trust /etc/airlock/trust.yaml",
			"airlock zone check --trust /etc/airlock/trust.yaml --receipt-out /media/usb --json"),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runZoneCheck(c, o) },
	}
	f := c.Flags()
	f.StringVar(&o.trust, "trust", "", "zone trust policy (trust.yaml) (required)")
	f.StringVar(&o.receiptOut, "receipt-out", "", "also copy the chain entries this folder lacks into it (the media carried back)")
	f.DurationVar(&o.wait, "wait", 0, "wait this long for an apply in progress to finish")
	o.secrets.addPasswordFlag(c)
	addJSONFlag(c, "zone-check.schema.json")
	_ = c.MarkFlagRequired("trust")
	return c
}

func runZoneCheck(c *cobra.Command, o zoneCheckOptions) error {
	t, err := zone.Load(o.trust)
	if err != nil {
		return err
	}
	res, err := apply.RecordDrift(c.Context(), apply.Options{Trust: t, ReceiptOut: o.receiptOut, Wait: o.wait,
		Version: version, Stderr: c.ErrOrStderr(), Secrets: o.secrets.source(c.ErrOrStderr())})
	if res == nil {
		return err
	}
	report(c, res, printZoneCheck)
	return err
}

func printZoneCheck(w io.Writer, res *apply.DriftResult) {
	switch {
	case res.Unchanged:
		fmt.Fprintf(w, "policy ok: trust.yaml is the policy receipt %d records\n", res.Seq)
		return
	case res.Already:
		fmt.Fprintf(w, "drift    already recorded in receipt %d (%s)\n", res.Seq, res.Receipt)
	case res.Receipt != "":
		fmt.Fprintf(w, "drift    recorded as receipt %d (%s)\n", res.Seq, res.Receipt)
	}
	if res.Change != nil {
		for _, d := range res.Change.Changes {
			mark := "change "
			if d.Weakens {
				mark = "WEAKENS"
			}
			fmt.Fprintf(w, "%s  %s\n", mark, d.Detail)
		}
	}
	if res.ReceiptCopy != "" {
		fmt.Fprintf(w, "copy     %s\n", res.ReceiptCopy)
	}
}
