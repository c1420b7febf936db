//go:build unix

package apply

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"airlock.dev/airlock/internal/agekeys"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// TestPassphraseProtectedIdentity: a zone identity encrypted with a
// passphrase, as `age -p -a` writes it, applies a bundle once the
// passphrase is given; asked by name, and refused without it.
func TestPassphraseProtectedIdentity(t *testing.T) {
	z := newZone(t)
	plainFile := filepath.Join(z.dir, "zone.agekey")
	plain, err := os.ReadFile(plainFile)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.NewScryptRecipient("zone passphrase")
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10) // age -p uses 18; the format is the same, the test faster
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	encFile := plainFile + ".age"
	if err := os.WriteFile(encFile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(plainFile)
	z.trust.Identities = []string{encFile}

	b := z.build("1.0.0", "true", 1)
	var asked []keys.Prompt
	answer := func(pass string) func(*Options) {
		return func(o *Options) {
			o.Secrets = func(p keys.Prompt) ([]byte, error) {
				asked = append(asked, p)
				return []byte(pass), nil
			}
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want error
	}{
		{"no passphrase", func(o *Options) { o.Secrets = nil }, agekeys.ErrNoPassphrase},
		{"wrong passphrase", answer("wrong"), agekeys.ErrWrongPassphrase},
	} {
		res, err := z.apply(b, tc.edit)
		if !errors.Is(err, tc.want) || res == nil || res.Outcome != receipt.Refused || !strings.Contains(res.Message, encFile) {
			t.Fatalf("%s: %v, %+v", tc.name, err, res)
		}
		if _, err := os.Stat(z.root); !os.IsNotExist(err) {
			t.Fatalf("%s: something was deployed", tc.name)
		}
	}

	asked = nil
	res, err := z.apply(b, answer("zone passphrase"))
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if res.Outcome != receipt.Applied || z.current() != "releases/1.0.0" {
		t.Fatalf("outcome %s, current %q", res.Outcome, z.current())
	}
	want := keys.Prompt{Secret: keys.SecretPassphrase, For: "age identity " + encFile}
	if len(asked) != 1 || asked[0] != want {
		t.Fatalf("asked %+v, want once %+v", asked, want)
	}
	if p := z.receipt(res); !p.Bundle.Verified || len(z.chain()) != 3 {
		t.Fatalf("receipt chain: %d receipts", len(z.chain()))
	}
}
