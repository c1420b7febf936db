package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/keys"
)

// Environment variables that hold secrets for unattended use.
const (
	passwordEnv   = "AIRLOCK_PASSWORD"            // private key files
	passphraseEnv = "AIRLOCK_IDENTITY_PASSPHRASE" // age-encrypted zone identities
)

// maxSecretFileSize bounds a --password-file or --identity-passphrase-file.
const maxSecretFileSize = 4 << 10

// secretOptions are the flags that give secrets without a terminal. A
// command registers the ones it needs; PKCS#11 PINs come from the key's
// URI or AIRLOCK_PKCS11_PIN (see internal/pkcs11key) before any prompt.
type secretOptions struct {
	passwordFile   string
	passphraseFile string
}

func (s *secretOptions) addPasswordFlag(c *cobra.Command) {
	c.Flags().StringVar(&s.passwordFile, "password-file", "", "read the private key's password from the first line of this file (else AIRLOCK_PASSWORD, else the terminal)")
}

func (s *secretOptions) addPassphraseFlag(c *cobra.Command) {
	c.Flags().StringVar(&s.passphraseFile, "identity-passphrase-file", "", "read the passphrase of an age-encrypted zone identity from the first line of this file (else AIRLOCK_IDENTITY_PASSPHRASE, else the terminal)")
}

// source answers a request for a secret: from the flag's file, else the
// environment, else the terminal (never echoed), asking for it by name.
// Without any of them it fails rather than block.
func (s secretOptions) source(stderr io.Writer) keys.PasswordFunc {
	return func(p keys.Prompt) ([]byte, error) {
		file, env := "", ""
		switch p.Secret {
		case keys.SecretPassword:
			file, env = s.passwordFile, passwordEnv
		case keys.SecretPassphrase:
			file, env = s.passphraseFile, passphraseEnv
		}
		if file != "" {
			return readSecretFile(file)
		}
		if v, ok := os.LookupEnv(env); ok && env != "" {
			return []byte(v), nil
		}
		return askTerminal(stderr, p)
	}
}

// readSecretFile returns the first line of a secret file.
func readSecretFile(path string) ([]byte, error) {
	b, err := capped.ReadFile(path, maxSecretFileSize)
	if err != nil {
		return nil, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("%s: empty first line, want the secret", path)
	}
	return line, nil
}

func askTerminal(stderr io.Writer, p keys.Prompt) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, noSecretError(p)
	}
	ask := strings.ToUpper(p.Secret[:1]) + p.Secret[1:] + " for " + p.For
	fmt.Fprint(stderr, ask+": ")
	secret, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Secret, err)
	}
	if !p.Confirm {
		return secret, nil
	}
	fmt.Fprint(stderr, ask+" (again): ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Secret, err)
	}
	if !bytes.Equal(secret, again) {
		return nil, fmt.Errorf("the %ss for %s do not match", p.Secret, p.For)
	}
	return secret, nil
}

// noSecretError says which secret was missing and how to give it.
func noSecretError(p keys.Prompt) error {
	switch p.Secret {
	case keys.SecretPassword:
		return keys.ErrNoPassword // the key's loader names the file
	case keys.SecretPassphrase:
		return fmt.Errorf("%s is passphrase-protected and no passphrase was given (give --identity-passphrase-file, set %s, or run in a terminal)", p.For, passphraseEnv)
	}
	return fmt.Errorf("%s: %w", p.For, keys.ErrNoPIN)
}
