package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/pkcs11key"
)

type keyGenerateOptions struct {
	name       string
	noPassword bool
	pkcs11     string
	secrets    secretOptions
}

func newKeyCommand() *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage signing keys; sign and verify files (cosign-compatible)",
		Example: examples(
			"airlock key generate release",
			"airlock key sign-blob SHA256SUMS --key release.key")}
	groupCommand(c)
	c.AddCommand(newKeyGenerateCommand(), newSignBlobCommand(), newVerifyBlobCommand())
	return c
}

func newKeyGenerateCommand() *cobra.Command {
	var o keyGenerateOptions
	c := &cobra.Command{
		Use:   "generate NAME [--pkcs11 URI]",
		Short: "Create NAME.key (encrypted, cosign-compatible ECDSA P-256) and NAME.pub, or a key in a PKCS#11 token",
		Long: `Create a signing key pair: NAME.key, an ECDSA P-256 private key encrypted
with a password (the format of 'cosign generate-key-pair'), and NAME.pub.
The password comes from --password-file, AIRLOCK_PASSWORD, or the terminal.

With --pkcs11 URI the key pair is made inside a PKCS#11 token (an HSM, a
smart card, SoftHSM2) under the URI's object label, and only NAME.pub is
written: the private key never leaves the token. Use the same URI wherever
a --key is asked for. The module comes from the URI's module-path or
AIRLOCK_PKCS11_MODULE; the PIN from pin-source or pin-value, from
AIRLOCK_PKCS11_PIN, or the terminal. Needs a build with cgo.`,
		Example: examples(
			"airlock key generate release",
			"airlock key generate release --password-file /run/secrets/release-pw --json",
			"airlock key generate release --pkcs11 'pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so'"),
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.name = args[0]
			return runKeyGenerate(c, o)
		},
	}
	c.Flags().BoolVar(&o.noPassword, "no-password", false, "write the private key unencrypted (for keys kept in a vault or HSM-backed store)")
	c.Flags().StringVar(&o.pkcs11, "pkcs11", "", "create the key in the PKCS#11 token this pkcs11: URI names; write only NAME.pub")
	o.secrets.addPasswordFlag(c)
	c.MarkFlagsMutuallyExclusive("pkcs11", "no-password")
	c.MarkFlagsMutuallyExclusive("pkcs11", "password-file")
	addJSONFlag(c, "key-generate.schema.json")
	return c
}

// runKeyGenerateInToken makes the key pair in a token and writes NAME.pub.
func runKeyGenerateInToken(c *cobra.Command, o keyGenerateOptions) error {
	pubPath := o.name + ".pub"
	u, err := pkcs11key.ParseURI(o.pkcs11)
	if err != nil {
		return usageErrorf("--pkcs11: %w", err)
	}
	if _, err := os.Stat(pubPath); err == nil {
		return fmt.Errorf("%s already exists: refusing to overwrite a key", pubPath)
	}
	pub, err := keys.GenerateInToken(o.pkcs11, o.secrets.source(c.ErrOrStderr()))
	if err != nil {
		return err
	}
	k, err := keys.ParsePublic(pub)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteNew(pubPath, pub, 0o644); err != nil {
		return err
	}
	report(c, keyReport{PublicKey: pubPath, KeyID: k.ID(), Token: u.Describe(), URI: u.String()}, printKey)
	return nil
}

func runKeyGenerate(c *cobra.Command, o keyGenerateOptions) error {
	if o.pkcs11 != "" {
		return runKeyGenerateInToken(c, o)
	}
	privPath, pubPath := o.name+".key", o.name+".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists: refusing to overwrite a key", p)
		}
	}
	var pw []byte
	if !o.noPassword {
		var err error
		ask := o.secrets.source(c.ErrOrStderr())
		if pw, err = ask(keys.Prompt{Secret: keys.SecretPassword, For: privPath, Confirm: true}); err != nil {
			return fmt.Errorf("%s: %w", privPath, err)
		}
		if len(pw) == 0 {
			return errors.New("empty password: give one, or use --no-password")
		}
	}
	priv, pub, err := keys.Generate(pw)
	if err != nil {
		return err
	}
	k, err := keys.ParsePublic(pub)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteNew(privPath, priv, 0o600); err != nil {
		return err
	}
	if err := atomicfile.WriteNew(pubPath, pub, 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	report(c, keyReport{PrivateKey: privPath, PublicKey: pubPath, KeyID: k.ID()}, printKey)
	return nil
}

// keyReport is the key pair key generate made.
type keyReport struct {
	PrivateKey string `json:"privateKey,omitempty"` // the key file; "" for a key in a token
	PublicKey  string `json:"publicKey"`
	KeyID      string `json:"keyId"`
	Token      string `json:"token,omitempty"` // the token holding the key
	URI        string `json:"uri,omitempty"`   // the pkcs11: URI to sign with
}

func printKey(w io.Writer, k keyReport) {
	if k.URI != "" {
		fmt.Fprintf(w, "generated an ECDSA P-256 key in %s\nwrote %s\nkey id %s\nsign with --key '%s'\n", k.Token, k.PublicKey, k.KeyID, k.URI)
		return
	}
	fmt.Fprintf(w, "wrote %s and %s\nkey id %s\n", k.PrivateKey, k.PublicKey, k.KeyID)
}
