package receipt

import (
	"encoding/json"
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
		// A file holding a secret is recorded by its keyed digest only.
		"keyed file with its plain digest": withFiles(predicate(1, ""), File{Path: "/srv/a/db.conf", SHA256: prev, TemplateSHA256: prev, HMACSHA256: prev, HMACKey: "k1"}),
		"keyed file without template":      withFiles(predicate(1, ""), File{Path: "/srv/a/db.conf", HMACSHA256: prev, HMACKey: "k1"}),
		"keyed file without key":           withFiles(predicate(1, ""), File{Path: "/srv/a/db.conf", TemplateSHA256: prev, HMACSHA256: prev}),
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
	keyed := withFiles(predicate(1, ""), File{Path: "/srv/a/db.conf", TemplateSHA256: prev, HMACSHA256: prev, HMACKey: "k1"}, File{Path: "/srv/a/x", SHA256: prev})
	if _, err := Verify(mustSign(t, s, keyed), []*keys.PublicKey{s.Public()}); err != nil {
		t.Fatalf("a keyed file: %v", err)
	}
}

func withFiles(p *Predicate, files ...File) *Predicate {
	p.Files = files
	return p
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

// TestRejectsCaseVariants: a signed receipt whose predicate names a member
// that differs from a field only in case is refused, whoever signed it: an
// auditor's jq and airlock must read the same outcome.
func TestRejectsCaseVariants(t *testing.T) {
	s := bundletest.NewSigner(t)
	p := predicate(1, "")
	p.Steps = []Step{{Name: "migrate", Kind: "run", When: "success", Result: StepSucceeded}}
	payload, err := json.Marshal(Statement{Type: StatementType, Subject: []Subject{}, PredicateType: PredicateType, Predicate: *p})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ name, old, new string }{
		{"Outcome beside outcome", `"outcome":{`, `"Outcome":{"result":"failed","reason":"step-failed"},"outcome":{`},
		{"Result in the outcome", `"result":"applied"`, `"Result":"failed","result":"applied"`},
		{"Seq beside seq", `"seq":1`, `"Seq":7,"seq":1`},
		{"Zone instead of zone", `"zone":"z"`, `"Zone":"z"`},
		{"Result in a step", `"result":"succeeded"`, `"Result":"failed","result":"succeeded"`},
		{"Subject", `"subject":[]`, `"Subject":[],"subject":[]`},
	} {
		t.Run(v.name, func(t *testing.T) {
			edited := strings.Replace(string(payload), v.old, v.new, 1)
			if edited == string(payload) {
				t.Fatalf("%q not in the payload", v.old)
			}
			env, err := dsse.Sign(dsse.InTotoPayloadType, []byte(edited), s)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := dsse.Marshal(env)
			var ve *VerifyError
			if _, err := Verify(data, []*keys.PublicKey{s.Public()}); !errors.As(err, &ve) || !strings.Contains(err.Error(), "unknown object member") {
				t.Fatalf("Verify = %v, want a VerifyError naming the unknown member", err)
			}
			if _, err := Parse(data); err == nil {
				t.Fatal("Parse accepted it")
			}
		})
	}
}
