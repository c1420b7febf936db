package dsse_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	ssl "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

func TestSignVerify(t *testing.T) {
	a, b, c := newSigner(t), newSigner(t), newSigner(t)
	env, err := dsse.Sign(dsse.InTotoPayloadType, []byte(`{"x":1}`), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Signatures[0].KeyID != a.Public().ID() {
		t.Fatalf("keyid %q, want the key's ID", env.Signatures[0].KeyID)
	}
	v, err := dsse.Verify(env, []*keys.PublicKey{c.Public(), b.Public(), a.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if string(v.Payload) != `{"x":1}` || len(v.Signers) != 2 || !v.Signers[0].Equal(a.Public()) || !v.Signers[1].Equal(b.Public()) {
		t.Fatalf("verified %q by %d keys", v.Payload, len(v.Signers))
	}
	if _, err := dsse.Verify(env, []*keys.PublicKey{c.Public()}); !errors.Is(err, dsse.ErrNoSignature) {
		t.Fatalf("untrusted keys: %v", err)
	}
}

// TestKeyCountsOnce: a key's signature repeated under other keyids still
// counts once; the keyid hint decides nothing.
func TestKeyCountsOnce(t *testing.T) {
	a := newSigner(t)
	env, _ := dsse.Sign(dsse.InTotoPayloadType, []byte("p"), a)
	dup := env.Signatures[0]
	dup.KeyID = "somebody-else"
	env.Signatures = append(env.Signatures, dup, dsse.Signature{KeyID: a.Public().ID(), Sig: dup.Sig})
	v, err := dsse.Verify(env, []*keys.PublicKey{a.Public()})
	if err != nil || len(v.Signers) != 1 {
		t.Fatalf("%v, %d signers", err, len(v.Signers))
	}
	if err := dsse.AddSignature(env, a); err == nil || !strings.Contains(err.Error(), "already signed") {
		t.Fatalf("second signature by the same key: %v", err)
	}
}

// TestPayloadTypeIsSigned: changing the payload type breaks the signature.
func TestPayloadTypeIsSigned(t *testing.T) {
	a := newSigner(t)
	env, _ := dsse.Sign(dsse.InTotoPayloadType, []byte("p"), a)
	env.PayloadType = "application/json"
	if _, err := dsse.Verify(env, []*keys.PublicKey{a.Public()}); !errors.Is(err, dsse.ErrNoSignature) {
		t.Fatalf("err = %v", err)
	}
}

// TestInterop: envelopes verify with go-securesystemslib's PAE, and the
// unpadded URL-safe base64 DSSE allows is read too.
func TestInterop(t *testing.T) {
	a := newSigner(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	sig, err := a.Sign(ssl.PAE(dsse.InTotoPayloadType, payload))
	if err != nil {
		t.Fatal(err)
	}
	env := &dsse.Envelope{PayloadType: dsse.InTotoPayloadType, Payload: base64.RawURLEncoding.EncodeToString(payload),
		Signatures: []dsse.Signature{{Sig: base64.RawURLEncoding.EncodeToString(sig)}}}
	v, err := dsse.Verify(env, []*keys.PublicKey{a.Public()})
	if err != nil || !bytes.Equal(v.Payload, payload) {
		t.Fatalf("%v %q", err, v.Payload)
	}
}

func TestRead(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"payloadType":"t","payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}]}`, ""},
		{`{"payloadType":"t","payload":"cA==","signatures":[]}`, "no signatures"},
		{`{"payloadType":"","payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}]}`, "no payloadType"},
		{`{"payloadType":"t","payload":"!!","signatures":[{"keyid":"","sig":"AA=="}]}`, "invalid base64"},
		{`{"payloadType":"t","payloadType":"u","payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}]}`, `duplicate object member name "payloadType"`},
		{`{"payloadType":"t","payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}],"extra":1}`, `unknown object member name "extra"`},
		// Member names are exact: a case variant is unknown, beside the real one or alone.
		{`{"payloadType":"t","PayloadType":"u","payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}]}`, `unknown object member name "PayloadType"`},
		{`{"payloadType":"t","Payload":"cA==","signatures":[{"keyid":"","sig":"AA=="}]}`, `unknown object member name "Payload"`},
		{`{"payloadType":"t","payload":"cA==","Signatures":[{"keyid":"","sig":"AA=="}]}`, `unknown object member name "Signatures"`},
		{`{"payloadType":"t","payload":"cA==","signatures":[{"keyid":"","sig":"AA==","Sig":"AQ=="}]}`, `unknown object member name "Sig"`},
		{`{"payloadType":"t","payload":"cA==","signatures":[{"KeyID":"","sig":"AA=="}]}`, `unknown object member name "KeyID"`},
		{`{"payloadType":"t","payload":"cA==","signatures":[` + strings.Repeat(`{"keyid":"","sig":"AA=="},`, dsse.MaxSignatures) + `{"keyid":"","sig":"AA=="}]}`, "at most"},
	}
	for _, tt := range tests {
		_, err := dsse.Read(strings.NewReader(tt.in), 1<<20)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Read(%.50s…) = %v, want %q", tt.in, err, tt.want)
		}
	}
	if _, err := dsse.Read(strings.NewReader(tests[0].in), 10); err == nil {
		t.Error("envelope over the cap was read")
	}
}

func newSigner(t *testing.T) *keys.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
