package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/keys"
)

type keyGenerateOptions struct {
	name       string
	noPassword bool
}

func newKeyCommand() *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Manage signing keys"}
	groupCommand(c)
	c.AddCommand(newKeyGenerateCommand())
	return c
}

func newKeyGenerateCommand() *cobra.Command {
	var o keyGenerateOptions
	c := &cobra.Command{
		Use:   "generate NAME",
		Short: "Create NAME.key (encrypted, cosign-compatible ECDSA P-256) and NAME.pub",
		Long: `Create a signing key pair: NAME.key, an ECDSA P-256 private key encrypted
with a password (the format of 'cosign generate-key-pair'), and NAME.pub.
The password comes from AIRLOCK_PASSWORD or is asked on the terminal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o.name = args[0]
			return runKeyGenerate(c, o)
		},
	}
	c.Flags().BoolVar(&o.noPassword, "no-password", false, "write the private key unencrypted (for keys kept in a vault or HSM-backed store)")
	return c
}

func runKeyGenerate(c *cobra.Command, o keyGenerateOptions) error {
	privPath, pubPath := o.name+".key", o.name+".pub"
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s already exists: refusing to overwrite a key", p)
		}
	}
	var pw []byte
	if !o.noPassword {
		var err error
		if pw, err = passwordFunc(c.ErrOrStderr())(true); err != nil {
			return err
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
	fmt.Fprintf(c.OutOrStdout(), "wrote %s and %s\nkey id %s\n", privPath, pubPath, k.ID())
	return nil
}
