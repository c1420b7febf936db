package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// The audit used to say PASS when evidence was missing or a control was
// switched off. Each case here is one such false PASS; each must now fail
// with a named finding.

// policies of the tests: p1 requires an approval, p2 does not.
var (
	releaseKey = receipt.PolicyKey{KeyID: "SHA256:release", Name: "Bea Builder"}
	approveKey = receipt.PolicyKey{KeyID: "SHA256:approve", Name: "Ann Approver"}
)

func policyWithApproval() *receipt.Policy {
	return testPolicy("with approval", "pci-east", []receipt.PolicyKey{releaseKey}, []receipt.PolicyKey{approveKey})
}

func policyWithoutApproval() *receipt.Policy {
	return testPolicy("approval removed", "pci-east", []receipt.PolicyKey{releaseKey}, nil)
}

// under makes an apply receipt record the policy in force.
func under(p *receipt.Policy) func(*receipt.Predicate) {
	return func(pr *receipt.Predicate) { pr.Event, pr.Policy = receipt.EventApply, p }
}

func TestFalsePassesFail(t *testing.T) {
	east, other := newKey(t), newKey(t)
	founder := receipt.Operator{User: "alice", UID: "1001"}
	tests := []struct {
		name string
		// build writes the folder under dir and returns the options to audit with.
		build func(t *testing.T, dir string) Options
		want  []want
	}{
		{
			name:  "empty folder",
			build: func(t *testing.T, dir string) Options { return Options{Dir: dir, Keys: pubs(east)} },
			want: []want{
				{KindNoReceipts, "", 0, "", []string{"holds no verified receipt"}},
				{KindUnusedKey, "", 0, "", []string{east.Public().ID(), "signed no receipt"}},
			},
		},
		{
			name: "a key that signed no receipt",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.next()
				return Options{Dir: dir, Keys: pubs(east, other)}
			},
			want: []want{{KindUnusedKey, "", 0, "", []string{other.Public().ID()}}},
		},
		{
			name: "a zone the ledger targets is missing",
			build: func(t *testing.T, dir string) Options {
				s := &ledgerScene{dir: filepath.Join(dir, "r"), ledger: filepath.Join(dir, "l"), zoneKey: east, builder: newKey(t), approver: newKey(t), bundles: map[string]*testBundle{}}
				b := bundleAt("b1", "1.0.0", 1, t0, 30*24*time.Hour, "pci-east", "pci-north")
				s.build(t, "b1", b, true)
				c := newChain(t, s.dir, "pci-east", east)
				c.next(func(p *receipt.Predicate) { p.Bundle = b.ref() })
				return Options{Dir: s.dir, Keys: pubs(east), LedgerDir: s.ledger}
			},
			want: []want{{KindMissingZone, "pci-north", 0, "", []string{"1 bundle for zone pci-north (svc 1.0.0)", "no receipt of that zone"}}},
		},
		{
			name: "the newest receipts removed (state)",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				for range 5 {
					c.next()
				}
				head := c.prev
				remove(t, dir, receiptName("pci-east", 5))
				remove(t, dir, receiptName("pci-east", 4))
				st := &State{FormatVersion: StateFormatVersion, Heads: []Head{{Zone: "pci-east", Seq: 5, SHA256: head, SeenAt: t0}}}
				return Options{Dir: dir, Keys: pubs(east), State: st}
			},
			want: []want{{KindTruncated, "pci-east", 3, receiptName("pci-east", 3), []string{"the audit state names head seq 5", "ends at seq 3"}}},
		},
		{
			name: "the newest receipt removed (expect)",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.next()
				c.next()
				head := c.prev
				remove(t, dir, receiptName("pci-east", 2))
				return Options{Dir: dir, Keys: pubs(east), Expect: []Expectation{{Zone: "pci-east", SHA256: head}}}
			},
			want: []want{{KindTruncated, "pci-east", 1, receiptName("pci-east", 1), []string{"--expect names head sha256", "ends at seq 1"}}},
		},
		{
			name: "a zone named by the state is missing",
			build: func(t *testing.T, dir string) Options {
				newChain(t, dir, "pci-east", east).next()
				st := &State{FormatVersion: StateFormatVersion, Heads: []Head{{Zone: "pci-west", Seq: 9, SHA256: strings.Repeat("ab", 32)}}}
				return Options{Dir: dir, Keys: pubs(east), State: st}
			},
			want: []want{{KindMissingZone, "pci-west", 0, "", []string{"the audit state names head seq 9"}}},
		},
		{
			name: "approval removed without a commit",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.control(policyWithApproval(), nil, founder)
				c.next(under(policyWithApproval()))
				c.next(under(policyWithoutApproval()), func(p *receipt.Predicate) { p.Bundle.Signers = p.Bundle.Signers[:1] })
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{{KindPolicyUncommitted, "pci-east", 3, receiptName("pci-east", 3), []string{"WEAKER policy", "no commit recorded", "role approve (threshold 1, 1 keys) removed"}}},
		},
		{
			name: "a commit that names another previous policy",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.control(policyWithApproval(), nil, founder)
				other := testPolicy("edited in between", "pci-east", []receipt.PolicyKey{releaseKey}, []receipt.PolicyKey{approveKey})
				c.control(policyWithoutApproval(), other, founder)
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{{KindPolicyUncommitted, "pci-east", 2, receiptName("pci-east", 2), []string{"names trust.yaml sha256", "as the previous policy"}}},
		},
		{
			name: "a weakening by one person where two were required",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				ann, bob := receipt.PolicyKey{KeyID: "SHA256:ann-op", Name: "Ann Op"}, receipt.PolicyKey{KeyID: "SHA256:bob-op", Name: "Bob Op"}
				two := testPolicy("two persons", "pci-east", []receipt.PolicyKey{releaseKey}, []receipt.PolicyKey{approveKey}, ann, bob)
				two.RequireTwoPersonForWeakening = true
				weaker := testPolicy("approval removed, two persons", "pci-east", []receipt.PolicyKey{releaseKey}, nil, ann, bob)
				weaker.RequireTwoPersonForWeakening = true
				c.control(two, nil, founder)
				c.control(weaker, two, founder)
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{
				{KindTwoPersonMissing, "pci-east", 2, receiptName("pci-east", 2), []string{"without two of the operators", "requireTwoPersonForWeakening, since seq 1"}},
				{KindPolicyWeakened, "pci-east", 2, receiptName("pci-east", 2), []string{"WEAKENS"}},
			},
		},
		{
			name: "root without a named, signed operator",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.next(func(p *receipt.Predicate) { p.Operator = receipt.Operator{User: "root", UID: "0", Name: "Jane Doe"} })
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{{KindUnattributed, "pci-east", 1, receiptName("pci-east", 1), []string{"by the root account without a named operator's co-signature", `--operator "Jane Doe" is not a signature`}}},
		},
		{
			name: "a shared account",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.next(func(p *receipt.Predicate) {
					p.Operator = receipt.Operator{User: "deploy", UID: "900", Name: "Jane Doe"}
				})
				c.next(func(p *receipt.Predicate) {
					p.Operator = receipt.Operator{User: "deploy", UID: "900", Name: "John Roe"}
					p.Outcome = receipt.Outcome{Result: receipt.AlreadyApplied, Reason: receipt.ReasonAlreadyApplied}
				})
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{
				{KindUnattributed, "pci-east", 1, receiptName("pci-east", 1), []string{"account deploy, which the folder shows used by several people"}},
				{KindUnattributedAttempt, "pci-east", 2, receiptName("pci-east", 2), []string{"account deploy"}},
			},
		},
		{
			name: "a tampered bundle refused",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				c.next(func(p *receipt.Predicate) {
					p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: receipt.Reason(receipt.CheckParts), Message: "payload.age.002: sha256 differs"}
					p.Checks = []receipt.Check{{Name: receipt.CheckParts, Result: receipt.Fail, Detail: "payload.age.002: sha256 differs"}}
					p.Steps = nil
				})
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{{KindTampering, "pci-east", 1, receiptName("pci-east", 1), []string{"parts check failed", "check parts failed"}}},
		},
		{
			name: "an edited file list",
			build: func(t *testing.T, dir string) Options {
				c := newChain(t, dir, "pci-east", east)
				files := []receipt.File{{Path: "/srv/app/bin/server", SHA256: strings.Repeat("1", 64)}}
				c.next(func(p *receipt.Predicate) {
					p.Files, p.FilesTotal, p.FilesList, p.FilesSHA256 = files, 1, filesListName("pci-east", 1), sha256Hex(receipt.FilesList(files))
				})
				writeFile(t, filepath.Join(dir, "pci-east", filesListName("pci-east", 1)), []byte(strings.Repeat("2", 64)+"  /srv/app/bin/server\n"))
				c.next(func(p *receipt.Predicate) {
					p.FilesTotal, p.FilesList, p.FilesSHA256 = 1, filesListName("pci-east", 2), sha256Hex(receipt.FilesList(files))
				})
				return Options{Dir: dir, Keys: pubs(east)}
			},
			want: []want{
				{KindAttachmentMismatch, "pci-east", 1, receiptName("pci-east", 1), []string{"deployed file list", "changed after the apply"}},
				{KindAttachmentMissing, "pci-east", 2, receiptName("pci-east", 2), []string{"not beside it"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.build(t, t.TempDir())
			r := runAudit(t, opts)
			checkFindings(t, r, tt.want)
			if r.OK() || r.Err() == nil {
				t.Error("the audit passed")
			}
		})
	}
}

// TestCommittedWeakeningIsListed: a weakening that was committed passes at
// the default level but is listed, and fails with --fail-on warning; the
// bundle the zone refused for lack of approval, applied after, is named.
func TestCommittedWeakeningIsListed(t *testing.T) {
	east := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	founder := receipt.Operator{User: "alice", UID: "1001", Name: "Alice Roe", Note: "CHG-1"}
	c.control(policyWithApproval(), nil, founder)
	unapproved := func(p *receipt.Predicate) { p.Bundle.Signers = p.Bundle.Signers[:1] }
	c.next(under(policyWithApproval()), unapproved, func(p *receipt.Predicate) {
		p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: receipt.Reason(receipt.CheckSignature), Message: "role approve has 0 of 1 required signatures"}
		p.Steps = nil
	})
	c.control(policyWithoutApproval(), policyWithApproval(), receipt.Operator{User: "alice", UID: "1001", Note: "CHG-2 approval dropped"})
	c.next(under(policyWithoutApproval()), unapproved)
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	checkFindings(t, r, []want{
		// the refusal was the policy at work (a trusted key signed the
		// bundle, the approval was missing), not a tampering attempt
		{KindRefused, "pci-east", 2, receiptName("pci-east", 2), []string{"by policy", "not tampering", "role approve has 0 of 1 required signatures"}},
		{KindPolicyWeakened, "pci-east", 3, receiptName("pci-east", 3), []string{"WEAKENS the policy", "role approve", "CHG-2 approval dropped"}},
		// and the bundle got in through the weakened policy
		{KindAppliedAfterRefusal, "pci-east", 4, receiptName("pci-east", 4), []string{"was refused at seq 2 (its signatures did not meet the policy)"}},
		{KindNoApproval, "pci-east", 4, receiptName("pci-east", 4), nil},
	})
	// Without the refusal the weakening alone passes by default…
	dir2 := t.TempDir()
	c2 := newChain(t, dir2, "pci-east", east)
	c2.control(policyWithApproval(), nil, founder)
	c2.control(policyWithoutApproval(), policyWithApproval(), founder)
	c2.next(under(policyWithoutApproval()))
	r2 := runAudit(t, Options{Dir: dir2, Keys: pubs(east)})
	if r2.Err() != nil || len(findingsOf(r2, KindPolicyWeakened)) != 1 {
		t.Fatalf("committed weakening: err %v\n%s", r2.Err(), dumpFindings(r2))
	}
	// …and fails a pipeline that gates on warnings.
	r2 = runAudit(t, Options{Dir: dir2, Keys: pubs(east), FailOn: []string{FailOnError, FailOnWarning}})
	if err := r2.Err(); err == nil || !strings.Contains(err.Error(), "1 committed policy weakening") {
		t.Errorf("--fail-on warning: %v", err)
	}
}

// TestAttribution: root is attributed through a listed operator's
// co-signature or the kernel's login uid, never through a free-text name.
func TestAttribution(t *testing.T) {
	east, alice, mallory := newKey(t), newKey(t), newKey(t)
	pol := testPolicy("ops", "pci-east", []receipt.PolicyKey{releaseKey}, nil, receipt.PolicyKey{KeyID: alice.Public().ID(), Name: "Alice Roe"})
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	c.control(pol, nil, receipt.Operator{User: "alice", UID: "1001"})
	root := receipt.Operator{User: "root", UID: "0"}
	c.cosigner = alice
	c.next(under(pol), func(p *receipt.Predicate) {
		p.Operator = root
		p.Operator.Key = receipt.NewOperatorKey(alice.Public(), "Alice Roe")
	})
	c.next(under(pol), func(p *receipt.Predicate) {
		p.Operator = root
		p.Operator.LoginUID, p.Operator.LoginUser = "1001", "alice"
	})
	c.cosigner = mallory
	c.next(under(pol), func(p *receipt.Predicate) {
		p.Operator = root
		p.Operator.Key = receipt.NewOperatorKey(mallory.Public(), "Alice Roe")
	})
	c.next(under(pol), func(p *receipt.Predicate) { p.Operator = receipt.Operator{User: "carol", UID: "1003"} })
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	checkFindings(t, r, []want{
		{KindUnattributed, "pci-east", 4, receiptName("pci-east", 4), []string{"the policy in force lists no operator with that key"}},
	})
	es := entriesOf(t, r, "pci-east")
	for i, want := range []string{"", "Alice Roe (co-signed", "alice (login uid 1001, as root)", "", "carol (personal account"} {
		if want != "" && (!es[i].Attributed || !strings.HasPrefix(es[i].Person, want)) {
			t.Errorf("seq %d: attributed %v to %q, want %q", i+1, es[i].Attributed, es[i].Person, want)
		}
	}
	for _, row := range r.Evidence {
		if row.Req == "10.2.2 user identification" && (row.Status != StatusAttention || !strings.HasPrefix(row.Evidence, "3 of 4")) {
			t.Errorf("10.2.2 user identification: %+v", row)
		}
	}
}

// TestReencodedReceiptPasses: an innocent tool re-encoding a receipt (same
// signature, other whitespace and field order) leaves the chain intact;
// a re-encoded copy beside the original counts once.
func TestReencodedReceiptPasses(t *testing.T) {
	east := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	var files []string
	for range 4 {
		f, _ := c.next()
		files = append(files, f)
	}
	path := filepath.Join(dir, filepath.FromSlash(files[1]))
	original := readFile(t, path)
	again := reencode(t, original)
	if bytes.Equal(again, original) {
		t.Fatal("re-encoding changed nothing")
	}
	writeFile(t, path, again)
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	checkFindings(t, r, nil)
	if !r.Zones[0].ChainOK || r.Summary.Receipts != 4 {
		t.Fatalf("re-encoded receipt broke the chain:\n%s", dumpFindings(r))
	}
	// The original bytes beside the re-encoded copy: the same receipt.
	writeFile(t, filepath.Join(dir, "copy", "original.json"), original)
	r = runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	checkFindings(t, r, []want{{KindDuplicate, "pci-east", 2, "pci-east/receipt-pci-east-0000000002.dsse.json", []string{"encoded differently"}}})
	// Any change of content still breaks it.
	writeFile(t, path, editPayload(t, original, `"seq":2`, `"seq":2,"resumed":true`))
	r = runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	if len(findingsOf(r, KindTampered)) != 1 {
		t.Errorf("an edited receipt was not caught:\n%s", dumpFindings(r))
	}
}

// reencode writes an envelope compactly with its fields in another order.
func reencode(t *testing.T, data []byte) []byte {
	t.Helper()
	var env struct {
		PayloadType string            `json:"payloadType"`
		Payload     string            `json:"payload"`
		Signatures  []json.RawMessage `json:"signatures"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(struct {
		Signatures  []json.RawMessage `json:"signatures"`
		Payload     string            `json:"payload"`
		PayloadType string            `json:"payloadType"`
	}{env.Signatures, env.Payload, env.PayloadType})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStateFile: the state round-trips signed, refuses bad files, and
// moves each head forward only over an intact chain.
func TestStateFile(t *testing.T) {
	east, auditor := newKey(t), newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	c.next()
	c.next()
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east), FirstAudit: true})
	st := signedAgain(t, r.NextState, auditor)
	if len(st.Heads) != 1 || st.Heads[0].Seq != 2 || st.Heads[0].SHA256 != c.prev || !st.Heads[0].SeenAt.Equal(testNow) {
		t.Fatalf("state %+v", st)
	}
	if st.Audits != 1 || st.PreviousSHA256 != "" || st.SHA256() != r.NextState.SHA256() || r.State.Written.SHA256 != st.SHA256() {
		t.Errorf("state %d audits, previous %q, sha256 %s; report names %+v", st.Audits, st.PreviousSHA256, st.SHA256(), r.State.Written)
	}
	// A later audit with a gap keeps the old head.
	c.next()
	c.next()
	remove(t, dir, receiptName("pci-east", 3))
	r = runAudit(t, Options{Dir: dir, Keys: pubs(east), State: st})
	if next := r.NextState.Heads[0]; next.Seq != 2 {
		t.Errorf("head moved to seq %d over a broken chain", next.Seq)
	}
	if r.NextState.Audits != 2 || r.NextState.PreviousSHA256 != st.SHA256() || r.State.Read.SHA256 != st.SHA256() {
		t.Errorf("the second state: %d audits, previous %s; read %+v", r.NextState.Audits, r.NextState.PreviousSHA256, r.State.Read)
	}
	signed := func(doc string) []byte {
		var out bytes.Buffer
		env, err := dsse.Sign(StatePayloadType, []byte(doc), auditor)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := dsse.Marshal(env)
		out.Write(data)
		return out.Bytes()
	}
	sum := strings.Repeat("ab", 32)
	good := `{"formatVersion":2,"updatedAt":"2026-03-01T00:00:00Z","audits":1,"previousSha256":"","heads":[],"findings":[],"acks":[]}`
	if _, err := ReadState(bytes.NewReader(signed(good)), auditor.Public()); err != nil {
		t.Fatalf("a good state: %v", err)
	}
	for name, data := range map[string][]byte{
		"empty":       nil,
		"unsigned v1": []byte(`{"formatVersion":1,"heads":[]}`),
		"other key": func() []byte {
			env, _ := dsse.Sign(StatePayloadType, []byte(good), east)
			d, _ := dsse.Marshal(env)
			return d
		}(),
		"edited": bytes.Replace(signed(good), []byte(`"payload": "`), []byte(`"payload": "e30K`), 1),
		"payload type": func() []byte {
			env, _ := dsse.Sign(dsse.InTotoPayloadType, []byte(good), auditor)
			d, _ := dsse.Marshal(env)
			return d
		}(),
		"version":     signed(strings.Replace(good, `"formatVersion":2`, `"formatVersion":9`, 1)),
		"no audits":   signed(strings.Replace(good, `"audits":1`, `"audits":0`, 1)),
		"unknown":     signed(strings.Replace(good, `"acks":[]`, `"acks":[],"extra":1`, 1)),
		"duplicate":   signed(strings.Replace(good, `"audits":1`, `"audits":1,"audits":1`, 1)),
		"bad zone":    signed(strings.Replace(good, `"heads":[]`, `"heads":[{"zone":"A B","seq":1,"sha256":"`+sum+`","file":"x","seenAt":"2026-03-01T00:00:00Z"}]`, 1)),
		"bad sum":     signed(strings.Replace(good, `"heads":[]`, `"heads":[{"zone":"z","seq":1,"sha256":"abc","file":"x","seenAt":"2026-03-01T00:00:00Z"}]`, 1)),
		"twice":       signed(strings.Replace(good, `"heads":[]`, `"heads":[{"zone":"z","seq":1,"sha256":"`+sum+`","file":"x","seenAt":"2026-03-01T00:00:00Z"},{"zone":"z","seq":2,"sha256":"`+sum+`","file":"y","seenAt":"2026-03-01T00:00:00Z"}]`, 1)),
		"bad ack":     signed(strings.Replace(good, `"acks":[]`, `"acks":[{"id":"not an id","kind":"gap","severity":"error","note":"n","keyId":"k","at":"2026-03-01T00:00:00Z"}]`, 1)),
		"empty note":  signed(strings.Replace(good, `"acks":[]`, `"acks":[{"id":"z/h/3/gap","kind":"gap","severity":"error","note":" ","keyId":"k","at":"2026-03-01T00:00:00Z"}]`, 1)),
		"bad finding": signed(strings.Replace(good, `"findings":[]`, `"findings":[{"id":"z/h/3/gap","kind":"gap","severity":"fatal"}]`, 1)),
		"too large":   bytes.Repeat([]byte(" "), maxStateEnvelopeSize+1),
	} {
		if _, err := ReadState(bytes.NewReader(data), auditor.Public()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, bad := range []string{"pci-east", "pci-east=abc", "Bad Zone=" + strings.Repeat("ab", 32), "z/=" + strings.Repeat("ab", 32)} {
		if _, err := ParseExpectation(bad); err == nil {
			t.Errorf("ParseExpectation(%q) accepted", bad)
		}
	}
	if e, err := ParseExpectation("pci-east/APP-01=" + strings.Repeat("AB", 32)); err != nil || e.Host != "app-01" || e.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("ParseExpectation: %+v %v", e, err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestReportReadsWhatWasVerified: a receipt changed between its
// verification and the report stops the report instead of showing
// unverified content.
func TestReportReadsWhatWasVerified(t *testing.T) {
	east := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	file, data := c.next()
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	writeFile(t, filepath.Join(dir, filepath.FromSlash(file)), editPayload(t, data, `"seq":1`, `"seq":1,"resumed":true`))
	var b bytes.Buffer
	if err := r.WriteJSON(&b); !errors.Is(err, ErrChanged) {
		t.Fatalf("WriteJSON after the receipt changed: %v", err)
	}
}

// TestZoneValues: an apply whose zone replaced values the bundle signed is
// listed (info), naming each variable and where its value came from —
// never a value — in the table, JSON, JSONL and HTML reports; a value of
// the bundle for the zone, a role or the host is not a replacement.
func TestZoneValues(t *testing.T) {
	east := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "pci-east", east)
	c.next(func(p *receipt.Predicate) {
		p.VariableSources = []receipt.VariableSource{
			{Name: "DbPassword", Origin: receipt.OriginTrust, File: "zone/trust.yaml", SHA256: sha256Hex([]byte("t")),
				FromFile: "/etc/airlock/secrets/db", Replaced: true},
			{Name: "Greeting", Origin: receipt.OriginBundleRole, Scope: "web"},
			{Name: "Port", Origin: receipt.OriginVarFile, File: "vars.yaml", SHA256: sha256Hex([]byte("v")), Replaced: true},
		}
	})
	c.next(func(p *receipt.Predicate) {
		p.VariableSources = []receipt.VariableSource{{Name: "Greeting", Origin: receipt.OriginBundleZone, Scope: "pci-east"}}
	})
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	const msg = "the zone replaced 2 values signed in bundle svc 1.0.0 (id b-test): " +
		"DbPassword (zone/trust.yaml fromFile /etc/airlock/secrets/db), Port (vars.yaml)"
	checkFindings(t, r, []want{{KindZoneValue, "pci-east", 1, receiptName("pci-east", 1), []string{msg}}})
	if got := findingsOf(r, KindZoneValue); len(got) != 1 || got[0].Severity != SeverityInfo {
		t.Errorf("zone-value findings %+v, want one, info", got)
	}
	table, js, jsonl := reports(t, r)
	page := renderHTML(t, r)
	for name, out := range map[string]string{"table": string(table), "JSON": string(js), "JSONL": string(jsonl), "HTML": string(page)} {
		if !strings.Contains(out, "zone-value") || !strings.Contains(out, "DbPassword (zone/trust.yaml fromFile /etc/airlock/secrets/db)") {
			t.Errorf("the %s report does not list the zone's values", name)
		}
	}
}

// TestDriftRecorded: a drift record — trust.yaml found edited and not
// committed — is reported (a warning: nothing ran under the edit), counted
// under 10.2.1.5, and does not change the policy in force, so an apply
// under the committed policy after it is no uncommitted change.
func TestDriftRecorded(t *testing.T) {
	dir, east := t.TempDir(), newKey(t)
	founder := receipt.Operator{User: "alice", UID: "1001"}
	c := newChain(t, dir, "pci-east", east)
	c.control(policyWithApproval(), nil, founder)
	edited := policyWithoutApproval()
	c.next(func(p *receipt.Predicate) {
		p.Event, p.Policy, p.Bundle, p.Steps = receipt.EventDrift, policyWithApproval(), receipt.Bundle{}, []receipt.Step{}
		p.PolicyChange = zone.Diff(policyWithApproval(), edited)
		p.PolicyChange.FoundSHA256 = edited.SHA256
		p.Outcome = receipt.Outcome{Result: receipt.Recorded, Reason: receipt.ReasonPolicyUncommitted}
	})
	c.next(under(policyWithApproval()))
	r := runAudit(t, Options{Dir: dir, Keys: pubs(east)})
	checkFindings(t, r, []want{{KindPolicyDrift, "pci-east", 2, receiptName("pci-east", 2), []string{"found changed", "WEAKENS", "role approve (threshold 1, 1 keys) removed"}}})
	if n := len(findingsOf(r, KindPolicyUncommitted)); n != 0 {
		t.Errorf("%d policy-uncommitted findings: the drift record changed the policy in force", n)
	}
	for _, row := range r.Evidence {
		if strings.HasPrefix(row.Req, "10.2.1.5") && !strings.Contains(row.Evidence, "1 uncommitted trust.yaml edit found and recorded (drift)") {
			t.Errorf("10.2.1.5: %s", row.Evidence)
		}
	}
}
