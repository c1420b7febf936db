package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"airlock.dev/airlock/internal/keys"
)

// passwordEnv names the environment variable that holds a private key's
// password for unattended use.
const passwordEnv = "AIRLOCK_PASSWORD"

// passwordFunc reads a key password from AIRLOCK_PASSWORD, or else from the
// terminal (never echoed). Without either it fails rather than block.
func passwordFunc(stderr io.Writer) keys.PasswordFunc {
	return func(confirm bool) ([]byte, error) {
		if pw, ok := os.LookupEnv(passwordEnv); ok {
			return []byte(pw), nil
		}
		fd := int(os.Stdin.Fd())
		if !term.IsTerminal(fd) {
			return nil, keys.ErrNoPassword
		}
		fmt.Fprint(stderr, "Password: ")
		pw, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !confirm {
			return pw, nil
		}
		fmt.Fprint(stderr, "Password again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
		return pw, nil
	}
}
