package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

func TestGenerateEncrypted(t *testing.T) {
	priv, pub, err := Generate([]byte("hunter2"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(priv, []byte("ENCRYPTED SIGSTORE PRIVATE KEY")) {
		t.Fatalf("private key is not in the cosign format:\n%s", priv)
	}
	pw := func(Prompt) ([]byte, error) { return []byte("hunter2"), nil }
	s, err := ParsePrivate(priv, pw)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(s.Public()) || pk.ID() != s.Public().ID() || !strings.HasPrefix(pk.ID(), "SHA256:") {
		t.Fatalf("public keys differ: %s %s", pk.ID(), s.Public().ID())
	}
	sig, err := s.Sign([]byte("message"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pk.Verify([]byte("message"), sig); err != nil {
		t.Fatalf("own signature rejected: %v", err)
	}
	if err := pk.Verify([]byte("messagE"), sig); err == nil {
		t.Fatal("signature accepted for another message")
	}
	wrong := func(Prompt) ([]byte, error) { return []byte("wrong"), nil }
	if _, err := ParsePrivate(priv, wrong); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := ParsePrivate(priv, nil); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("no password source: %v", err)
	}
}

func TestDerive(t *testing.T) {
	priv, _, _ := Generate(nil)
	a, _ := ParsePrivate(priv, nil)
	again, _ := ParsePrivate(priv, nil)
	otherPriv, _, _ := Generate(nil)
	other, _ := ParsePrivate(otherPriv, nil)
	if !bytes.Equal(a.Derive("x"), again.Derive("x")) {
		t.Fatal("Derive is not deterministic for the same key")
	}
	if bytes.Equal(a.Derive("x"), a.Derive("y")) || bytes.Equal(a.Derive("x"), other.Derive("x")) {
		t.Fatal("Derive does not depend on the label and the key")
	}
}

func TestKeyTypes(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := NewSigner(edPriv)
	if err != nil {
		t.Fatalf("ed25519: %v", err)
	}
	sig, _ := s.Sign([]byte("m"))
	if err := s.Public().Verify([]byte("m"), sig); err != nil {
		t.Fatalf("ed25519 verify: %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	pem, _ := cryptoutils.MarshalPublicKeyToPEM(small.Public())
	if _, err := ParsePublic(pem); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("1024-bit RSA: %v", err)
	}
	if _, err := ParsePublic([]byte("not a key")); err == nil {
		t.Fatal("garbage accepted as a public key")
	}
	if _, err := ParsePrivate([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil); err == nil {
		t.Fatal("a certificate accepted as a private key")
	}
}

func TestLoadPublicFiles(t *testing.T) {
	if _, err := LoadPublicFiles([]string{t.TempDir() + "/missing.pub"}); err == nil {
		t.Fatal("missing file accepted")
	}
}

// TestPromptNamesTheKey: whoever is asked for a password learns which key
// it unlocks.
func TestPromptNamesTheKey(t *testing.T) {
	priv, _, err := Generate([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/release.key"
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	var asked []Prompt
	pw := func(p Prompt) ([]byte, error) {
		asked = append(asked, p)
		return []byte("pw"), nil
	}
	if _, err := LoadPrivate(path, pw); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != (Prompt{Secret: SecretPassword, For: path}) {
		t.Fatalf("asked %+v, want one password prompt for %s", asked, path)
	}
}
