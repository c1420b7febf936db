package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
)

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// reencode decodes an envelope and writes it again compactly, with its
// fields in another order: what an innocent tool (a pretty-printer, a
// JSON store) may do to a receipt.
func reencode(t *testing.T, data []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(`{"signatures":`)
	sigs, _ := json.Marshal(m["signatures"])
	b.Write(sigs)
	b.WriteString(`,"payload":"` + m["payload"].(string) + `","payloadType":"` + m["payloadType"].(string) + `"}`)
	return b.Bytes()
}

// TestLinkDigest: a version 2 receipt is linked by the digest of its
// signed statement, so re-encoding the envelope keeps the link while any
// change of content breaks it; a version 1 receipt keeps its envelope
// digest link.
func TestLinkDigest(t *testing.T) {
	s := bundletest.NewSigner(t)
	data := mustSign(t, s, predicate(1, ""))
	r, err := Verify(data, []*keys.PublicKey{s.Public()})
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.Read(bytes.NewReader(data), MaxSize)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := dsse.PayloadOf(env)
	if r.SHA256 != hexSHA(payload) || r.EnvelopeSHA256 != hexSHA(data) || r.SHA256 == r.EnvelopeSHA256 {
		t.Fatalf("link %s, envelope %s; payload digest %s", r.SHA256, r.EnvelopeSHA256, hexSHA(payload))
	}
	again := reencode(t, data)
	if bytes.Equal(again, data) {
		t.Fatal("re-encoding did not change the bytes")
	}
	r2, err := Verify(again, []*keys.PublicKey{s.Public()})
	if err != nil {
		t.Fatalf("re-encoded receipt: %v", err)
	}
	if r2.SHA256 != r.SHA256 || r2.EnvelopeSHA256 == r.EnvelopeSHA256 {
		t.Errorf("re-encoded: link %s (want %s), envelope %s", r2.SHA256, r.SHA256, r2.EnvelopeSHA256)
	}

	// Version 1: the link is the envelope's digest.
	st := Statement{Type: StatementType, Subject: []Subject{}, PredicateType: PredicateType, Predicate: *predicate(1, "")}
	st.Predicate.FormatVersion = 1
	p1, _ := json.Marshal(st)
	e1, err := dsse.Sign(dsse.InTotoPayloadType, p1, s)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := dsse.Marshal(e1)
	r1, err := Verify(v1, []*keys.PublicKey{s.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if r1.SHA256 != hexSHA(v1) {
		t.Errorf("v1 link %s, want the envelope digest %s", r1.SHA256, hexSHA(v1))
	}
	if LinkDigest(1, p1, v1) != hexSHA(v1) || LinkDigest(2, p1, v1) != hexSHA(p1) {
		t.Error("LinkDigest does not depend on the version as documented")
	}
}

// TestOperatorCoSignature: a receipt naming an operator key verifies only
// with that key's signature on it.
func TestOperatorCoSignature(t *testing.T) {
	zoneKey, op, other := bundletest.NewSigner(t), bundletest.NewSigner(t), bundletest.NewSigner(t)
	p := predicate(1, "")
	p.Operator.Key = NewOperatorKey(op.Public(), "Alice Roe")
	trusted := []*keys.PublicKey{zoneKey.Public()}

	r, err := Verify(mustSign(t, zoneKey, p, op), trusted)
	if err != nil {
		t.Fatal(err)
	}
	if r.Operator == nil || !r.Operator.Equal(op.Public()) || !r.Signer.Equal(zoneKey.Public()) {
		t.Fatalf("signer %v operator %v", r.Signer, r.Operator)
	}
	var ve *VerifyError
	for name, data := range map[string][]byte{
		"not co-signed":       mustSign(t, zoneKey, p),
		"co-signed by other":  mustSign(t, zoneKey, p, other),
		"operator key is not": mustSignWith(t, zoneKey, p, func(p *Predicate) { p.Operator.Key.PublicKey = string(other.Public().PEM()) }, op),
		"bad pem":             mustSignWith(t, zoneKey, p, func(p *Predicate) { p.Operator.Key.PublicKey = "-----BEGIN" }, op),
	} {
		if _, err := Verify(data, trusted); !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a VerifyError", name, err)
		} else if !strings.Contains(ve.Error(), "operator") {
			t.Errorf("%s: %v does not name the operator", name, err)
		}
	}
	// The operator's key alone is not a receipt key.
	if _, err := Verify(mustSign(t, zoneKey, p, op), []*keys.PublicKey{op.Public()}); err == nil {
		t.Error("a receipt verified with the operator's key as the receipt key")
	}
}

// TestWitness: a second co-signer verifies like the operator's; a
// predicate naming a witness without its signature, a witness without an
// operator, or the operator's own key as witness does not.
func TestWitness(t *testing.T) {
	zoneKey, op, wit := bundletest.NewSigner(t), bundletest.NewSigner(t), bundletest.NewSigner(t)
	trusted := []*keys.PublicKey{zoneKey.Public()}
	p := predicate(1, "")
	p.Operator = Operator{User: "root", UID: "0", Name: "Ann", Key: NewOperatorKey(op.Public(), "Ann"), Witness: NewOperatorKey(wit.Public(), "Wes")}
	r, err := Verify(mustSign(t, zoneKey, p, op, wit), trusted)
	if err != nil || !r.Operator.Equal(op.Public()) || !r.Witness.Equal(wit.Public()) || !r.Signer.Equal(zoneKey.Public()) {
		t.Fatalf("co-signed by both: %+v %v", r, err)
	}
	noOp := *p
	noOp.Operator.Key = nil
	self := *p
	self.Operator.Witness = NewOperatorKey(op.Public(), "Ann")
	for name, data := range map[string][]byte{
		"witness did not sign":  mustSign(t, zoneKey, p, op),
		"witness without an op": mustSign(t, zoneKey, &noOp, wit),
		"operator as witness":   mustSign(t, zoneKey, &self, op),
	} {
		var ve *VerifyError
		if _, err := Verify(data, trusted); !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a VerifyError", name, err)
		}
	}
}

func TestControlEvents(t *testing.T) {
	s := bundletest.NewSigner(t)
	pol := &Policy{SHA256: strings.Repeat("cd", 32), Zone: "z", Roles: []PolicyRole{{Name: "release", Threshold: 1, Keys: []PolicyKey{{KeyID: "SHA256:x"}}}}}
	genesis := func() *Predicate {
		p := predicate(1, "")
		p.Event, p.Policy, p.Outcome = EventGenesis, pol, Outcome{Result: Recorded, Reason: ReasonOK}
		return p
	}
	if _, err := Verify(mustSign(t, s, genesis()), []*keys.PublicKey{s.Public()}); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	prev := strings.Repeat("ab", 32)
	bad := map[string]func(p *Predicate){
		"genesis without policy": func(p *Predicate) { p.Policy = nil },
		"genesis at seq 2":       func(p *Predicate) { p.Seq, p.PrevSHA256 = 2, prev },
		"genesis applied":        func(p *Predicate) { p.Outcome.Result = Applied },
		"policy without change":  func(p *Predicate) { p.Event, p.Seq, p.PrevSHA256 = EventPolicy, 2, prev },
		"drift without change":   func(p *Predicate) { p.Event, p.Seq, p.PrevSHA256 = EventDrift, 2, prev },
		"drift without found": func(p *Predicate) {
			p.Event, p.Seq, p.PrevSHA256, p.PolicyChange = EventDrift, 2, prev, &PolicyChange{PreviousSHA256: pol.SHA256, Changes: []PolicyDiff{}}
		},
		"apply recorded": func(p *Predicate) { p.Event = EventApply },
		"unknown event":  func(p *Predicate) { p.Event = "reboot" },
	}
	for name, edit := range bad {
		p := genesis()
		edit(p)
		var ve *VerifyError
		if _, err := Verify(mustSign(t, s, p), []*keys.PublicKey{s.Public()}); !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want a VerifyError", name, err)
		}
	}
}

func TestPolicySame(t *testing.T) {
	a := &Policy{SHA256: "aa", Zone: "z", Roles: []PolicyRole{{Name: "release", Threshold: 1, Keys: []PolicyKey{{KeyID: "k1"}}}}}
	b := *a
	b.Roles = []PolicyRole{{Name: "release", Threshold: 1, Keys: []PolicyKey{{KeyID: "k2"}}}}
	if !a.Same(a) || a.Same(&b) || a.Same(nil) || !(*Policy)(nil).Same(nil) {
		t.Error("Same: a key swapped behind the same trust.yaml digest must count as a change")
	}
}

func mustSignWith(t *testing.T, s *keys.Signer, p *Predicate, edit func(*Predicate), co ...*keys.Signer) []byte {
	t.Helper()
	q := *p
	k := *p.Operator.Key
	q.Operator.Key = &k
	edit(&q)
	return mustSign(t, s, &q, co...)
}
