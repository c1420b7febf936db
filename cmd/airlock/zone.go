package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/zone"
)

func newZoneCommand() *cobra.Command {
	c := &cobra.Command{Use: "zone", Short: "Set up a target zone"}
	groupCommand(c)
	c.AddCommand(newZoneInitCommand())
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
  trust.yaml       the zone's trust policy, complete as written`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.Dir = args[0]
			z, err := zone.Init(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "zone %s ready in %s\ntrust policy  %s\nrecipient     %s\nreceipt key   %s (for auditors)\n",
				o.Zone, o.Dir, z.Trust, z.Recipient, z.ReceiptPub)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.Zone, "zone", "", "zone name, e.g. pci-east (required)")
	f.StringArrayVar(&o.ReleaseKeys, "release-key", nil, "public key trusted for the release role (repeatable; required)")
	f.StringArrayVar(&o.ApproveKeys, "approve-key", nil, "public key trusted for the approve role (repeatable); makes approval mandatory")
	f.StringVar(&o.StateDir, "state", "", "state directory (default DIR/state)")
	f.BoolVar(&o.PostQuantum, "pq", false, "use a post-quantum hybrid age identity (age1pq1… recipient)")
	_ = c.MarkFlagRequired("zone")
	_ = c.MarkFlagRequired("release-key")
	return c
}
