// Package agekeys parses age recipients and identities the way the age CLI
// does: native X25519 (age1…), post-quantum hybrid (age1pq1…), tagged
// (age1tag1…, age1tagpq1…), SSH (ssh-ed25519, ssh-rsa) and plugin
// recipients (age1<name>1…) and identities (AGE-PLUGIN-…), which run an
// age-plugin-<name> program found on PATH.
package agekeys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
	"filippo.io/age/tag"

	"airlock.dev/airlock/internal/capped"
)

// maxFileSize bounds recipient and identity files.
const maxFileSize = 1 << 20

// ParseRecipient parses one recipient string. A plugin identity
// (AGE-PLUGIN-…) is accepted too and stands for its recipient.
func ParseRecipient(s string, ui *plugin.ClientUI) (age.Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1tag1"), strings.HasPrefix(s, "age1tagpq1"):
		return tag.ParseRecipient(s)
	case strings.HasPrefix(s, "age1") && strings.Count(s, "1") > 1:
		// age1<plugin>1<data>: bech32 data never contains a '1'.
		return plugin.NewRecipient(s, ui)
	case strings.HasPrefix(s, "age1"):
		return age.ParseX25519Recipient(s)
	case strings.HasPrefix(s, "ssh-"):
		return agessh.ParseRecipient(s)
	case strings.HasPrefix(s, "AGE-PLUGIN-"):
		// A plugin identity encrypts to its own recipient, as age -e -j does;
		// some plugins (such as batchpass) have no recipient encoding.
		id, err := plugin.NewIdentity(s, ui)
		if err != nil {
			return nil, errors.New("invalid plugin identity")
		}
		return id.Recipient(), nil
	}
	return nil, fmt.Errorf("unknown recipient type %q", truncate(s))
}

// ParseRecipientsFile reads recipients one per line; blank lines and #
// comments are skipped.
func ParseRecipientsFile(path string, ui *plugin.ClientUI) ([]age.Recipient, error) {
	data, err := capped.ReadFile(path, maxFileSize)
	if err != nil {
		return nil, err
	}
	var out []age.Recipient
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line, ui)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no recipients", path)
	}
	return out, nil
}

// ParseIdentitiesFile reads an identity file: native and post-quantum age
// identities and AGE-PLUGIN-… lines, or one OpenSSH private key
// (unencrypted), or identity lines encrypted with a passphrase as
// `age -p` writes them (binary or armored), which passphrase is asked to
// open. Error messages never include key material.
func ParseIdentitiesFile(path string, ui *plugin.ClientUI, passphrase func() ([]byte, error)) ([]age.Identity, error) {
	data, err := capped.ReadFile(path, maxFileSize)
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(data, []byte("age-encryption.org/")), bytes.HasPrefix(bytes.TrimSpace(data), []byte(armor.Header)):
		if data, err = decryptIdentityFile(path, data, passphrase); err != nil {
			return nil, err
		}
	case bytes.Contains(data, []byte("-----BEGIN")):
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("%s: ssh identity: %w", path, err)
		}
		return []age.Identity{id}, nil
	}
	var out []age.Identity
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxFileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var id age.Identity
		var err error
		if strings.HasPrefix(line, "AGE-PLUGIN-") {
			id, err = plugin.NewIdentity(line, ui)
		} else {
			var ids []age.Identity
			ids, err = age.ParseIdentities(strings.NewReader(line))
			if err == nil {
				id = ids[0]
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: invalid identity", path, n)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no identities", path)
	}
	return out, nil
}

// ErrNoPassphrase means an identity file is passphrase-protected and no
// passphrase could be had.
var ErrNoPassphrase = errors.New("the identity file is passphrase-protected and no passphrase was given")

// ErrWrongPassphrase means the passphrase did not open an identity file.
var ErrWrongPassphrase = errors.New("wrong passphrase for the identity file")

// decryptIdentityFile opens an age file encrypted with a passphrase (an
// scrypt stanza), as `age -d -i` does for an encrypted identity file.
func decryptIdentityFile(path string, data []byte, passphrase func() ([]byte, error)) ([]byte, error) {
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(armor.Header)) {
		r = armor.NewReader(bytes.NewReader(bytes.TrimSpace(data)))
	}
	d, err := age.Decrypt(r, &passphraseIdentity{ask: passphrase})
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, fmt.Errorf("%s: encrypted with age, but not with a passphrase", path)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	plain, err := io.ReadAll(io.LimitReader(d, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: decrypt: %w", path, err)
	}
	if len(plain) > maxFileSize {
		return nil, fmt.Errorf("%s: decrypted identities larger than %d bytes", path, maxFileSize)
	}
	return plain, nil
}

// passphraseIdentity asks for the passphrase only when the file has the
// one scrypt stanza that passphrase encryption writes.
type passphraseIdentity struct {
	ask func() ([]byte, error)
}

func (i *passphraseIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	if len(stanzas) != 1 || stanzas[0].Type != "scrypt" {
		return nil, age.ErrIncorrectIdentity
	}
	if i.ask == nil {
		return nil, ErrNoPassphrase
	}
	pass, err := i.ask()
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(string(pass))
	if err != nil {
		return nil, err
	}
	key, err := id.Unwrap(stanzas)
	if errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, ErrWrongPassphrase
	}
	return key, err
}

// CheckMix reports an error when post-quantum and classic recipients are
// mixed, which age refuses (it would defeat the post-quantum protection).
func CheckMix(rs []age.Recipient) error {
	pq, classic := 0, 0
	for _, r := range rs {
		if _, ok := r.(*age.HybridRecipient); ok {
			pq++
		} else if _, ok := r.(*age.X25519Recipient); ok {
			classic++
		}
	}
	if pq > 0 && classic > 0 {
		return errors.New("post-quantum (age1pq1…) and classic (age1…) recipients cannot be mixed")
	}
	return nil
}

// TerminalUI is the plugin UI for interactive use: messages to stderr.
func TerminalUI(stderr io.Writer) *plugin.ClientUI {
	return plugin.NewTerminalUI(
		func(format string, v ...any) { fmt.Fprintf(stderr, "airlock: "+format+"\n", v...) },
		func(format string, v ...any) { fmt.Fprintf(stderr, "airlock: warning: "+format+"\n", v...) },
	)
}

func truncate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
