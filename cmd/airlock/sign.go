package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/verify"
)

type signOptions struct {
	bundle string
	role   string
	key    string
}

func newSignCommand() *cobra.Command {
	var o signOptions
	c := &cobra.Command{
		Use:   "sign BUNDLE --role approve --key approver.key",
		Short: "Add a signature (e.g. the change approver's) to a bundle, in place",
		Long: `Add a signature to the bundle's statement, in place and atomically. The role
is decided by the zone's trust policy from the key; --role states the intent
and is checked to be a known role. Inspect the bundle first ('airlock inspect').`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.bundle = args[0]
			return runSign(c, o)
		},
	}
	c.Flags().StringVar(&o.role, "role", verify.RoleApprove, "role of this signature: approve or release")
	c.Flags().StringVar(&o.key, "key", "", "signing key (PEM) (required)")
	_ = c.MarkFlagRequired("key")
	return c
}

func runSign(c *cobra.Command, o signOptions) error {
	if o.role != verify.RoleApprove && o.role != verify.RoleRelease {
		return usageErrorf("--role %q: want approve or release", o.role)
	}
	signer, err := keys.LoadPrivate(o.key, passwordFunc(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	st, err := bundle.AddSignature(o.bundle, signer)
	if err != nil {
		return err
	}
	p := st.Predicate
	fmt.Fprintf(c.OutOrStdout(), "signed %s %s (sequence %d, id %s) as %s with key %s\n",
		p.Name, p.Version, p.Sequence, p.BundleID, o.role, signer.Public().ID())
	return nil
}
