//go:build cgo

package pkcs11key

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/softhsmtest"
)

func mustParse(t *testing.T, s string) *URI {
	t.Helper()
	u, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSoftHSM generates a key in a real SoftHSM2 token, signs with it, and
// checks the refusals a user meets.
func TestSoftHSM(t *testing.T) {
	tk := softhsmtest.New(t)
	t.Setenv(PINEnv, "")
	pub, err := Generate(mustParse(t, tk.URI("release")), nil)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("generated %T, want an ECDSA P-256 key", pub)
	}
	if _, err := Generate(mustParse(t, tk.URI("release")), nil); err == nil || !strings.Contains(err.Error(), "already holds a key") {
		t.Fatalf("a second key under the same label: %v", err)
	}

	k, err := Open(mustParse(t, tk.URI("release")), nil)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("statement"))
	sig, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ec, digest[:], sig) {
		t.Fatal("the token's signature does not verify with the generated public key")
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}

	// The PIN asked for, naming the token and the key.
	noPIN := "pkcs11:token=" + softhsmtest.Label + ";object=release?module-path=" + tk.Module
	var asked string
	k, err = Open(mustParse(t, noPIN), func(what string) ([]byte, error) { asked = what; return []byte(softhsmtest.PIN), nil })
	if err != nil || asked != `PKCS#11 token "airlock", key "release"` {
		t.Fatalf("open with a prompted PIN: %v (asked %q)", err, asked)
	}
	k.Close()

	tests := []struct {
		name, uri, want string
	}{
		{"wrong PIN", noPIN + "&pin-value=0000", "wrong PIN"},
		{"no such key", tk.URI("nobody"), `the token holds no key pair named so`},
		{"no such token", strings.Replace(tk.URI("release"), "token=airlock", "token=other", 1), "open token with module"},
		{"no PIN", noPIN, "no PIN was given"},
		{"module missing", strings.Replace(tk.URI("release"), tk.Module, "/nonexistent/p11.so", 1), "/nonexistent/p11.so"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Open(mustParse(t, tc.uri), nil)
			if err == nil {
				k.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pin-value") {
				t.Fatalf("got %v, want %q (and no PIN shown)", err, tc.want)
			}
			if tc.name == "wrong PIN" && !errors.Is(err, ErrWrongPIN) {
				t.Fatalf("wrong PIN is not ErrWrongPIN: %v", err)
			}
		})
	}
}
