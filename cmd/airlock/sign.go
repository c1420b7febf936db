package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

type signOptions struct {
	bundle     string
	role       string
	key        string
	verifyKeys []string
	secrets    secretOptions
}

func newSignCommand() *cobra.Command {
	var o signOptions
	c := &cobra.Command{
		Use:   "sign BUNDLE --role approve --key approver.key --verify-key release.pub",
		Short: "Add a signature (e.g. the change approver's) to a bundle, in place",
		Long: `Add a signature to the bundle's statement, in place and atomically. The role
is decided by the zone's trust policy from the key; --role states the intent
and is checked to be a known role. The bundle is first verified fully against
the release keys given with --verify-key (required): a bundle that another
key made, or whose parts do not match, is not signed (exit 3). Inspect the
bundle first ('airlock inspect').`,
		Example: examples(
			"airlock sign payments-api-2.4.1.airlock --key approver.key --verify-key release.pub",
			"airlock sign payments-api-2.4.1.airlock --role approve --key 'pkcs11:token=approvers;object=jane' --verify-key release.pub --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.bundle = args[0]
			return runSign(c, o)
		},
	}
	c.Flags().StringVar(&o.role, "role", zone.RoleApprove, "role of this signature: "+signRoles.String())
	signRoles.complete(c, "role")
	c.Flags().StringVar(&o.key, "key", "", "signing key: a PEM file or a pkcs11: URI (required)")
	o.secrets.addPasswordFlag(c)
	c.Flags().StringArrayVar(&o.verifyKeys, "verify-key", nil, "verify the bundle fully against this release key first (required, repeatable); refuse to sign if it fails")
	addJSONFlag(c, "sign.schema.json")
	_ = c.MarkFlagRequired("key")
	_ = c.MarkFlagRequired("verify-key")
	return c
}

// signRoles are the values of --role.
var signRoles = choices{zone.RoleApprove, zone.RoleRelease}

func runSign(c *cobra.Command, o signOptions) error {
	if err := signRoles.check("role", o.role); err != nil {
		return err
	}
	if err := checkKeyFlag("key", o.key); err != nil {
		return err
	}
	if err := verifyBeforeSigning(c, o); err != nil {
		return err
	}
	signer, err := keys.LoadPrivate(o.key, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer signer.Close()
	st, err := bundle.AddSignature(c.Context(), o.bundle, signer)
	if err != nil {
		return err
	}
	report(c, signReport{Bundle: o.bundle, Role: o.role, KeyID: signer.Public().ID(), Predicate: &st.Predicate}, printSign)
	return nil
}

// signReport is what sign reports: the signature added, and the
// predicate of the statement signed.
type signReport struct {
	Bundle    string            `json:"bundle"`
	Role      string            `json:"role"`
	KeyID     string            `json:"keyId"`
	Predicate *bundle.Predicate `json:"predicate"`
}

func printSign(w io.Writer, r signReport) {
	p := r.Predicate
	q := printable.String // what the statement claims
	fmt.Fprintf(w, "signed %s %s (sequence %d, id %s) as %s with key %s\n",
		q(p.Name), q(p.Version), p.Sequence, q(p.BundleID), r.Role, r.KeyID)
}

// verifyBeforeSigning checks the release signature and every digest, so an
// approver never endorses a bundle that the zone would refuse.
func verifyBeforeSigning(c *cobra.Command, o signOptions) error {
	pol, err := loadPolicy("", o.verifyKeys)
	if err != nil {
		return err
	}
	b, err := bundle.Open(o.bundle)
	if err != nil {
		return err
	}
	defer b.Close()
	res, err := verify.Bundle(c.Context(), b, verify.Options{Policy: pol})
	if err != nil {
		if res != nil {
			printChecks(c.ErrOrStderr(), res.Checks)
		}
		return fmt.Errorf("not signed: %w", err)
	}
	return nil
}
