package receipt

import (
	"errors"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

func predicate(seq uint64, prev string) *Predicate {
	return &Predicate{ReceiptID: "r", Zone: "z", Seq: seq, PrevSHA256: prev, Outcome: Outcome{Result: Applied, Reason: "ok"}}
}

func TestSignVerify(t *testing.T) {
	s := bundletest.NewSigner(t)
	data, err := Sign(predicate(1, ""), nil, s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Verify(data, []*keys.PublicKey{s.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Predicate().Seq != 1 || r.Predicate().FormatVersion != FormatVersion || len(r.SHA256) != 64 || !r.Signer.Equal(s.Public()) {
		t.Fatalf("receipt %+v", r)
	}
	var ve *VerifyError
	if _, err := Verify(data, []*keys.PublicKey{bundletest.NewSigner(t).Public()}); !errors.As(err, &ve) || ve.Reason != "signature" {
		t.Fatalf("another key: %v", err)
	}
	edited := strings.Replace(string(data), `"payload": "`, `"payload": "e30`, 1)
	if _, err := Verify([]byte(edited), []*keys.PublicKey{s.Public()}); !errors.As(err, &ve) {
		t.Fatalf("edited payload: %v", err)
	}
	if p, err := Parse(data); err != nil || p.Predicate().Zone != "z" {
		t.Fatalf("Parse: %v", err)
	}
}

func TestValidate(t *testing.T) {
	s := bundletest.NewSigner(t)
	prev := strings.Repeat("ab", 32)
	bad := map[string]*Predicate{
		"seq 0":              predicate(0, ""),
		"seq 1 with prev":    predicate(1, prev),
		"seq 2 without prev": predicate(2, ""),
		"upper-case prev":    predicate(2, strings.ToUpper(prev)),
		"unknown outcome":    {ReceiptID: "r", Zone: "z", Seq: 1, Outcome: Outcome{Result: "maybe"}},
		"no zone":            {ReceiptID: "r", Seq: 1, Outcome: Outcome{Result: Applied}},
	}
	for name, p := range bad {
		data, err := Sign(p, nil, s)
		if err != nil {
			t.Fatal(err)
		}
		var ve *VerifyError
		if _, err := Verify(data, []*keys.PublicKey{s.Public()}); !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a VerifyError", name, err)
		}
	}
	if _, err := Verify(mustSign(t, s, predicate(2, prev)), []*keys.PublicKey{s.Public()}); err != nil {
		t.Fatalf("valid seq 2: %v", err)
	}
}

// TestTypeConfusion: a bundle statement signed by the receipt key is not a receipt.
func TestTypeConfusion(t *testing.T) {
	s := bundletest.NewSigner(t)
	env, _ := dsse.Sign(dsse.InTotoPayloadType, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://airlock.dev/bundle/v1","predicate":{}}`), s)
	data, _ := dsse.Marshal(env)
	var ve *VerifyError
	if _, err := Verify(data, []*keys.PublicKey{s.Public()}); !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
}

func mustSign(t *testing.T, s *keys.Signer, p *Predicate, co ...*keys.Signer) []byte {
	t.Helper()
	data, err := Sign(p, nil, s, co...)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
