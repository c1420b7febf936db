package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
)

type signBlobOptions struct {
	file    string
	key     string
	out     string
	secrets secretOptions
}

func newSignBlobCommand() *cobra.Command {
	var o signBlobOptions
	c := &cobra.Command{
		Use:   "sign-blob FILE --key KEY [--output-signature FILE.sig]",
		Short: "Sign a file as 'cosign sign-blob' does (e.g. a release's SHA256SUMS)",
		Long: `Sign FILE with a private key (a key file or a pkcs11: URI) and write the
signature as 'cosign sign-blob' does: the base64 of the signature over the
file's bytes. 'cosign verify-blob --key KEY.pub --signature FILE.sig
--insecure-ignore-tlog FILE' and 'airlock key verify-blob' both check it.`,
		Example: examples(
			"airlock key sign-blob SHA256SUMS --key release.key",
			"airlock key sign-blob SHA256SUMS --key 'pkcs11:token=airlock;object=release' --output-signature SHA256SUMS.sig --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.file = args[0]
			return runSignBlob(c, o)
		},
	}
	c.Flags().StringVar(&o.key, "key", "", "private key: a PEM file or a pkcs11: URI (required)")
	c.Flags().StringVar(&o.out, "output-signature", "", "where to write the signature, - for standard output (default FILE.sig)")
	o.secrets.addPasswordFlag(c)
	addJSONFlag(c, "key-sign-blob.schema.json")
	_ = c.MarkFlagRequired("key")
	return c
}

// signBlobReport is what sign-blob reports.
type signBlobReport struct {
	File      string `json:"file"`
	Signature string `json:"signature"` // the signature file ("-": printed)
	Value     string `json:"value"`     // the signature (base64)
	KeyID     string `json:"keyId"`     // the key that made it
}

// verifyBlobReport is what verify-blob reports (a bad signature is an
// error).
type verifyBlobReport struct {
	File      string `json:"file"`
	Signature string `json:"signature"`
	KeyID     string `json:"keyId"` // the key that made it
	Verified  bool   `json:"verified"`
}

func runSignBlob(c *cobra.Command, o signBlobOptions) error {
	if err := checkKeyFlag("key", o.key); err != nil {
		return err
	}
	signer, err := keys.LoadPrivate(o.key, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer signer.Close()
	f, _, err := capped.Open(o.file)
	if err != nil {
		return err
	}
	defer f.Close()
	sig, err := blobsig.Sign(signer, f)
	if err != nil {
		return fmt.Errorf("%s: %w", o.file, err)
	}
	out := o.out
	if out == "" {
		out = o.file + ".sig"
	}
	if out != "-" {
		if err := atomicfile.WriteFile(out, sig, 0o644); err != nil {
			return err
		}
	}
	report(c, signBlobReport{File: o.file, Signature: out, Value: string(sig), KeyID: signer.Public().ID()}, func(w io.Writer, r signBlobReport) {
		if r.Signature == "-" {
			fmt.Fprintf(w, "%s\n", r.Value)
			return
		}
		fmt.Fprintf(w, "wrote %s (key id %s)\n", r.Signature, r.KeyID)
	})
	return nil
}

type verifyBlobOptions struct {
	file string
	key  string
	sig  string
}

func newVerifyBlobCommand() *cobra.Command {
	var o verifyBlobOptions
	c := &cobra.Command{
		Use:   "verify-blob FILE --key KEY.pub [--signature FILE.sig]",
		Short: "Verify a file's signature made by 'airlock key sign-blob' or 'cosign sign-blob'",
		Long: `Verify that the signature (base64, as 'cosign sign-blob' writes it) was made
over FILE by the private half of the public key. Exit code 3 when it was not.`,
		Example: examples(
			"airlock key verify-blob SHA256SUMS --key airlock-release.pub --signature SHA256SUMS.sig",
			"airlock key verify-blob SHA256SUMS --key airlock-release.pub --json"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.file = args[0]
			return runVerifyBlob(c, o)
		},
	}
	c.Flags().StringVar(&o.key, "key", "", "public key (PEM) (required)")
	c.Flags().StringVar(&o.sig, "signature", "", "signature file (default FILE.sig)")
	addJSONFlag(c, "key-verify-blob.schema.json")
	_ = c.MarkFlagRequired("key")
	return c
}

func runVerifyBlob(c *cobra.Command, o verifyBlobOptions) error {
	pub, err := keys.LoadPublic(o.key)
	if err != nil {
		return err
	}
	sigPath := o.sig
	if sigPath == "" {
		sigPath = o.file + ".sig"
	}
	sig, err := capped.ReadFile(sigPath, blobsig.MaxSignatureSize)
	var tooLarge *capped.TooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%s: %w: %w", o.file, blobsig.ErrInvalid, err)
	} else if err != nil {
		return err
	}
	f, _, err := capped.Open(o.file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := blobsig.Verify(pub, f, sig); err != nil {
		return fmt.Errorf("%s: %w", o.file, err) // blobsig.ErrInvalid: exit 3
	}
	report(c, verifyBlobReport{File: o.file, Signature: sigPath, KeyID: pub.ID(), Verified: true}, func(w io.Writer, r verifyBlobReport) {
		fmt.Fprintf(w, "verified %s: signed by key %s\n", r.File, r.KeyID)
	})
	return nil
}
