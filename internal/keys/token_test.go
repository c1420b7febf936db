//go:build cgo

package keys

import (
	"bytes"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/pkcs11key"
	"airlock.dev/airlock/internal/softhsmtest"
)

// TestTokenKey: a key generated in a SoftHSM2 token signs exactly like a
// key file — the same signature format, checked by the same verifier.
func TestTokenKey(t *testing.T) {
	tk := softhsmtest.New(t)
	t.Setenv(pkcs11key.PINEnv, "")
	uri := tk.URI("release")
	pubPEM, err := GenerateInToken(uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublic(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadPrivate(uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.InToken() || !s.Public().Equal(pub) || s.Public().ID() != pub.ID() {
		t.Fatalf("token key %s, generated public key %s", s.Public().ID(), pub.ID())
	}
	msg := bytes.Repeat([]byte("payload "), 100000)
	sig, err := s.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify(msg, sig); err != nil {
		t.Fatalf("the .pub rejects the token's signature: %v", err)
	}
	if err := pub.Verify(append(msg, '!'), sig); err == nil {
		t.Fatal("a signature verifies over other data")
	}
	// The private key cannot be read, so the derived salt is random.
	if bytes.Equal(s.Derive("x"), s.Derive("x")) || len(s.Derive("x")) != 32 {
		t.Fatal("Derive of a token key is not 32 fresh random bytes")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}

	// The PIN prompt names the token and key.
	var asked Prompt
	noPIN := strings.Replace(uri, "&pin-value="+softhsmtest.PIN, "", 1)
	s2, err := LoadPrivate(noPIN, func(p Prompt) ([]byte, error) { asked = p; return []byte(softhsmtest.PIN), nil })
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if asked != (Prompt{Secret: SecretPIN, For: `PKCS#11 token "airlock", key "release"`}) {
		t.Fatalf("asked %+v", asked)
	}
}
