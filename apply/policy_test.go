//go:build unix

package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// editTrust rewrites the zone's trust.yaml and loads it again (without
// committing it).
func (z *testZone) editTrust(edit func(string) string) {
	z.t.Helper()
	p := filepath.Join(z.dir, "trust.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		z.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(edit(string(b))), 0o644); err != nil {
		z.t.Fatal(err)
	}
	if z.trust, err = zone.Load(p); err != nil {
		z.t.Fatal(err)
	}
}

func (z *testZone) writeKey(name string, k *keys.Signer) {
	z.t.Helper()
	if err := os.WriteFile(filepath.Join(z.dir, name), k.Public().PEM(), 0o644); err != nil {
		z.t.Fatal(err)
	}
}

func refusedFor(t *testing.T, res *Result, err error, reason receipt.Reason) {
	t.Helper()
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != reason {
		t.Fatalf("err = %v, want a %s refusal", err, reason)
	}
	if res == nil || res.Outcome != receipt.Refused || res.Reason != reason {
		t.Fatalf("result %+v", res)
	}
}

// TestApplyPolicyUncommitted: the scenario. A zone requires
// approval; the approve role is removed from trust.yaml to let an
// unapproved bundle through. The edited policy is refused until committed,
// and the commit records the weakening.
func TestApplyPolicyUncommitted(t *testing.T) {
	z := newZone(t)
	z.writeKey("approve.pub", z.f.Approver)
	withApprove := func(s string) string {
		return strings.Replace(s, "identities:", "  approve: { threshold: 1, keys: [approve.pub] }\nidentities:", 1)
	}
	z.editTrust(withApprove)
	if r := z.commit(); r.Unchanged || r.Change == nil || r.Change.Weakens || r.Change.Changes[0].Kind != zone.DiffRoleAdded {
		t.Fatalf("adding the approve role: %+v", r.Change)
	}
	unapproved := z.build("1.0.0", "true", 1)
	if _, err := z.apply(unapproved); err == nil {
		t.Fatal("an unapproved bundle was applied while approval is required")
	}

	// Remove the approve role again: refused until committed.
	z.editTrust(func(s string) string {
		return strings.Replace(s, "  approve: { threshold: 1, keys: [approve.pub] }\n", "", 1)
	})
	res, err := z.apply(unapproved)
	refusedFor(t, res, err, receipt.ReasonPolicyUncommitted)
	p := z.receipt(res)
	if p.Policy == nil || len(p.Policy.Roles) != 2 || !strings.Contains(p.Outcome.Message, "role approve") {
		t.Fatalf("the refusal records %+v, message %q; want the committed policy (2 roles) and the change", p.Policy, p.Outcome.Message)
	}
	if z.markers() != "" || len(p.Checks) != 0 {
		t.Fatalf("something was checked or ran under an uncommitted policy: %q %v", z.markers(), p.Checks)
	}

	c := z.commit()
	if !c.Change.Weakens || c.Change.Changes[0].Kind != zone.DiffRoleRemoved || c.Seq != p.Seq+1 {
		t.Fatalf("commit %+v", c)
	}
	if res, err := z.apply(unapproved); err != nil || res.Outcome != receipt.Applied {
		t.Fatalf("after the commit: %v %v", res, err)
	}
	chain := z.chain()
	if last := chain[len(chain)-1]; last.Policy.SHA256 != z.trust.SHA256 || len(last.Policy.Roles) != 1 {
		t.Errorf("the apply records policy %+v", last.Policy)
	}
	if again := z.commit(); !again.Unchanged {
		t.Errorf("a second commit of the same policy wrote %+v", again)
	}
}

// TestApplyKeyFileSwapped: replacing a key file behind an unchanged
// trust.yaml is a policy change too.
func TestApplyKeyFileSwapped(t *testing.T) {
	z := newZone(t)
	z.writeKey("release.pub", z.f.Other)
	z.editTrust(func(s string) string { return s })
	res, err := z.apply(z.build("1.0.0", "true", 1))
	refusedFor(t, res, err, receipt.ReasonPolicyUncommitted)
	if !strings.Contains(res.Message, "role release: key "+z.f.Other.Public().ID()+" added") ||
		!strings.Contains(res.Message, "role release: key "+z.f.Release.Public().ID()+" removed") {
		t.Errorf("message %q does not say which key changed", res.Message)
	}
}

// TestApplyOperatorSignature: operators: and requireOperatorSignature.
func TestApplyOperatorSignature(t *testing.T) {
	z := newZone(t)
	alice := bundletest.NewSigner(t)
	z.writeKey("alice.pub", alice)
	z.editTrust(func(s string) string {
		return strings.Replace(s, "identities:", "operators:\n  - { path: alice.pub, name: Alice Roe }\nrequireOperatorSignature: true\nidentities:", 1)
	})
	// The first operator of a zone that had none is its setup, not a
	// weakening; requiring co-signatures strengthens it.
	if c := z.commit(); c.Change.Weakens || !slices.ContainsFunc(c.Change.Changes, func(d receipt.PolicyDiff) bool { return d.Kind == zone.DiffOperatorRequired }) ||
		!slices.ContainsFunc(c.Change.Changes, func(d receipt.PolicyDiff) bool { return d.Kind == zone.DiffOperatorFirst }) {
		t.Fatalf("commit %+v", c.Change)
	}
	b := z.build("1.0.0", "true", 1)

	res, err := z.apply(b)
	refusedFor(t, res, err, receipt.ReasonOperatorUnsigned)

	res, err = z.apply(b, func(o *Options) { o.OperatorKey = z.f.Other })
	refusedFor(t, res, err, receipt.ReasonOperatorUnknown)
	if p := z.receipt(res); p.Operator.Key != nil {
		t.Fatal("a refused unknown operator key was recorded as the operator's")
	}

	res, err = z.apply(b, func(o *Options) { o.OperatorKey = alice })
	if err != nil || res.Outcome != receipt.Applied {
		t.Fatalf("co-signed apply: %v %v", res, err)
	}
	data, err := os.ReadFile(res.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	r, err := receipt.Verify(data, []*keys.PublicKey{k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	op := r.Predicate().Operator
	if r.Operator == nil || !r.Operator.Equal(alice.Public()) || op.Key.Name != "Alice Roe" || op.Name != "Alice Roe" || op.UID == "" {
		t.Fatalf("operator %+v, co-signer %v", op, r.Operator)
	}

	// The recorded policy requires co-signatures: so does a commit.
	z.editTrust(func(s string) string { return strings.Replace(s, "variables:\n", "variables:\n  Other: y\n", 1) })
	_, err = CommitPolicy(context.Background(), CommitOptions{Trust: z.trust, Operator: "Mallory"})
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != receipt.ReasonOperatorUnsigned {
		t.Fatalf("unsigned commit: %v", err)
	}
	_, err = CommitPolicy(context.Background(), CommitOptions{Trust: z.trust, Operator: "Mallory", OperatorKey: z.f.Other})
	if !errors.As(err, &re) || re.Reason != receipt.ReasonOperatorUnknown {
		t.Fatalf("commit by an unknown key: %v", err)
	}
	c, err := CommitPolicy(context.Background(), CommitOptions{Trust: z.trust, Operator: "Alice Roe", OperatorKey: alice, Now: func() time.Time { return z.now }})
	if err != nil || c.Change == nil || c.Change.Changes[0].Kind != zone.DiffOtherSettings {
		t.Fatalf("co-signed commit: %+v %v", c, err)
	}

	// A refusal under an uncommitted edit is still co-signed by an operator
	// of the policy in force.
	z.editTrust(func(s string) string { return strings.Replace(s, "variables:\n", "variables:\n  Extra: x\n", 1) })
	res, err = z.apply(b, func(o *Options) { o.OperatorKey = alice })
	refusedFor(t, res, err, receipt.ReasonPolicyUncommitted)
	if p := z.receipt(res); p.Operator.Key == nil || p.Operator.Key.Name != "Alice Roe" {
		t.Fatalf("refusal operator %+v", p.Operator)
	}
}

// TestReceiptFilesAndCarryOut: receipts and their file lists are 0640, and
// --receipt-out copies every chain entry the media lacks, from the genesis
// record on.
func TestReceiptFilesAndCarryOut(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.build("1.0.0", "true", 1), func(o *Options) { o.ReceiptOut = "" })
	if err != nil {
		t.Fatal(err)
	}
	p := z.receipt(res)
	for _, f := range []string{res.Receipt, filepath.Join(filepath.Dir(res.Receipt), p.FilesList)} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != receipt.FileMode {
			t.Errorf("%s: %v mode %v, want %04o", f, err, st.Mode().Perm(), receipt.FileMode)
		}
	}
	if p.Storage == nil || p.Storage.DirMode != "0700" || p.Storage.FileMode != "0640" {
		t.Errorf("storage %+v", p.Storage)
	}
	if p.Time.Clock == nil || p.Time.Clock.Method != "adjtimex" {
		if _, err := os.Stat("/proc/self"); err == nil {
			t.Errorf("clock state not recorded: %+v", p.Time)
		}
	}
	// The first apply carried nothing out; the second carries the whole chain.
	media := filepath.Join(z.dir, "media")
	res, err = z.apply(z.build("2.0.0", "true", 2))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ents, _ := os.ReadDir(media)
	for _, e := range ents {
		got = append(got, e.Name())
		if st, _ := e.Info(); st.Mode().Perm() != receipt.FileMode {
			t.Errorf("%s copied with mode %v", e.Name(), st.Mode().Perm())
		}
	}
	want := []string{"receipt-test-host1-0000000001.dsse.json", "receipt-test-host1-0000000002.dsse.json", "receipt-test-host1-0000000002.files",
		"receipt-test-host1-0000000002.inventory", "receipt-test-host1-0000000003.dsse.json", "receipt-test-host1-0000000003.files",
		"receipt-test-host1-0000000003.inventory"}
	if !slices.Equal(got, want) {
		t.Fatalf("media holds %v, want %v", got, want)
	}
	if res.ReceiptCopy != filepath.Join(media, "receipt-test-host1-0000000003.dsse.json") {
		t.Errorf("copy %s", res.ReceiptCopy)
	}
}

// TestPrunedReleasesRecorded: releases removed by keep are named in the
// receipt of the apply that removed them.
func TestPrunedReleasesRecorded(t *testing.T) {
	z := newZone(t)
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0"} {
		res, err := z.apply(z.build(v, "true", uint64(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		p := z.receipt(res)
		var pruned []string
		if p.Release != nil {
			pruned = p.Release.Pruned
		}
		want := []string(nil)
		if v == "4.0.0" {
			want = []string{filepath.Join(z.root, "releases", "1.0.0")}
		}
		if !slices.Equal(pruned, want) {
			t.Errorf("%s: pruned %v, want %v", v, pruned, want)
		}
	}
	if _, err := os.Stat(filepath.Join(z.root, "releases", "1.0.0")); !os.IsNotExist(err) {
		t.Error("1.0.0 was not pruned")
	}
}

// TestResumeWithoutOperatorKey: an apply co-signed by an operator is
// killed; a resume without that operator's key writes a receipt that still
// verifies — it names no co-signing key it cannot carry — and one with the
// key co-signs it.
func TestResumeWithoutOperatorKey(t *testing.T) {
	for _, withKey := range []bool{false, true} {
		t.Run(fmt.Sprintf("key=%v", withKey), func(t *testing.T) {
			z := newZone(t)
			priv, _, err := keys.Generate(nil)
			if err != nil {
				t.Fatal(err)
			}
			alice, err := keys.ParsePrivate(priv, nil)
			if err != nil {
				t.Fatal(err)
			}
			z.writeKey("alice.pub", alice)
			z.editTrust(func(s string) string {
				return strings.Replace(s, "identities:", "operators:\n  - { path: alice.pub, name: Alice Roe }\nidentities:", 1)
			})
			z.commit()
			keyFile := filepath.Join(z.dir, "alice.key")
			if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := z.child(z.build("1.0.0", "true", 1), "AIRLOCK_CHILD_KILL_AT="+jSwitched, "AIRLOCK_CHILD_OPERATOR_KEY="+keyFile).CombinedOutput(); err == nil {
				t.Fatalf("not killed:\n%s", out)
			}
			o := z.opts("")
			if withKey {
				o.OperatorKey = alice
			}
			res, err := Resume(context.Background(), o)
			if err != nil || res == nil {
				t.Fatalf("resume: %v %v\n%s", res, err, z.out.String())
			}
			data, err := os.ReadFile(res.Receipt)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
			r, err := receipt.Verify(data, []*keys.PublicKey{k.Public()})
			if err != nil {
				t.Fatalf("the recovered receipt does not verify: %v", err)
			}
			p := r.Predicate()
			if p.Outcome.Reason != receipt.ReasonInterrupted || p.Operator.Name != "Alice Roe" {
				t.Fatalf("outcome %+v operator %+v", p.Outcome, p.Operator)
			}
			if cosigned := r.Operator != nil && p.Operator.Key != nil; cosigned != withKey {
				t.Fatalf("co-signed %v, want %v", cosigned, withKey)
			}
			if !withKey && !strings.Contains(z.out.String(), "its receipt is not co-signed") {
				t.Errorf("no warning that the receipt is not co-signed:\n%s", z.out.String())
			}
		})
	}
}

// withOperators adds operators (file → name) to the zone's trust.yaml,
// each key written beside it, and turns on requireTwoPersonForWeakening.
func (z *testZone) withOperators(ops map[string]*keys.Signer, names map[string]string) {
	z.t.Helper()
	var lines []string
	for _, file := range slices.Sorted(maps.Keys(ops)) {
		z.writeKey(file, ops[file])
		lines = append(lines, fmt.Sprintf("  - { path: %s, name: %s }", file, names[file]))
	}
	z.editTrust(func(s string) string {
		return strings.Replace(s, "identities:", "operators:\n"+strings.Join(lines, "\n")+"\nrequireTwoPersonForWeakening: true\nidentities:", 1)
	})
}

// TestCommitTwoPersons: under requireTwoPersonForWeakening, a commit that
// weakens the policy needs two operators' co-signatures — two keys of two
// persons — and the record carries and verifies both; one that does not
// weaken it needs one person.
func TestCommitTwoPersons(t *testing.T) {
	z := newZone(t)
	alice, bob := bundletest.NewSigner(t), bundletest.NewSigner(t)
	z.withOperators(map[string]*keys.Signer{"alice.pub": alice, "bob.pub": bob}, map[string]string{"alice.pub": "Alice Roe", "bob.pub": "Bob Poe"})
	// Setting up: two first operators, and the rule, by one person.
	if c := z.commit(); c.Change.Weakens {
		t.Fatalf("setup commit %+v", c.Change)
	}
	now := func() time.Time { return z.now }
	commit := func(o CommitOptions) (*CommitResult, error) {
		o.Trust, o.Now, o.Version, o.Stderr = z.trust, now, "test", &z.out
		return CommitPolicy(context.Background(), o)
	}
	var re *RefusedError

	// A weakening: another release key.
	z.writeKey("extra.pub", z.f.Other)
	z.editTrust(func(s string) string {
		return strings.Replace(s, "keys: [release.pub]", "keys: [release.pub, extra.pub]", 1)
	})
	if _, err := commit(CommitOptions{OperatorKey: alice}); !errors.As(err, &re) || re.Reason != receipt.ReasonTwoPerson {
		t.Fatalf("a weakening by one person: %v", err)
	}
	if _, err := commit(CommitOptions{Operator: "Alice Roe"}); !errors.As(err, &re) || re.Reason != receipt.ReasonTwoPerson {
		t.Fatalf("a weakening by a name alone: %v", err)
	}
	if _, err := commit(CommitOptions{OperatorKey: alice, WitnessKey: alice}); !errors.As(err, &re) || re.Reason != receipt.ReasonTwoPerson {
		t.Fatalf("one person twice: %v", err)
	}
	if _, err := commit(CommitOptions{OperatorKey: alice, WitnessKey: z.f.Other}); !errors.As(err, &re) || re.Reason != receipt.ReasonOperatorUnknown {
		t.Fatalf("a witness who is no operator: %v", err)
	}
	if _, err := commit(CommitOptions{Operator: "Bob Poe", OperatorKey: alice, WitnessKey: bob}); !errors.Is(err, zone.ErrOperatorName) {
		t.Fatalf("--operator naming someone else than the key's person: %v", err)
	}
	c, err := commit(CommitOptions{OperatorKey: alice, WitnessKey: bob, Note: "CHG-77"})
	if err != nil || !c.Change.Weakens {
		t.Fatalf("a weakening by two persons: %+v %v", c, err)
	}
	data, err := os.ReadFile(c.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	r, err := receipt.Verify(data, []*keys.PublicKey{k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	op := r.Predicate().Operator
	if op.Name != "Alice Roe" || op.Key.Name != "Alice Roe" || op.Witness == nil || op.Witness.Name != "Bob Poe" ||
		!r.Operator.Equal(alice.Public()) || !r.Witness.Equal(bob.Public()) {
		t.Fatalf("operator %+v, co-signers %v %v", op, r.Operator, r.Witness)
	}

	// A change that does not weaken the policy: one person is enough.
	z.editTrust(func(s string) string { return strings.Replace(s, "variables:\n", "variables:\n  Other: y\n", 1) })
	if c, err := commit(CommitOptions{OperatorKey: bob}); err != nil || c.Change.Weakens {
		t.Fatalf("a setting by one person: %+v %v", c, err)
	}
}

// TestRecordDrift: an edit of trust.yaml nobody commits is recorded once,
// as a drift entry, by the first command that reads it (zone check, plan);
// status reports it; a commit ends it.
func TestRecordDrift(t *testing.T) {
	z := newZone(t)
	if res, err := RecordDrift(context.Background(), z.opts("")); err != nil || !res.Unchanged {
		t.Fatalf("an unchanged policy: %+v %v", res, err)
	}
	before := len(z.chainAll())
	z.writeKey("extra.pub", z.f.Other)
	z.editTrust(func(s string) string {
		return strings.Replace(s, "keys: [release.pub]", "keys: [release.pub, extra.pub]", 1)
	})

	res, err := RecordDrift(context.Background(), z.opts(""))
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != receipt.ReasonPolicyUncommitted || res == nil || res.Receipt == "" || res.Already {
		t.Fatalf("drift: %+v %v", res, err)
	}
	all := z.chainAll()
	if len(all) != before+1 {
		t.Fatalf("%d entries, want %d", len(all), before+1)
	}
	d := all[len(all)-1]
	if d.Event != receipt.EventDrift || d.Outcome.Result != receipt.Recorded || d.PolicyChange.FoundSHA256 != z.trust.SHA256 ||
		!d.PolicyChange.Weakens || d.Policy.SHA256 == z.trust.SHA256 {
		t.Fatalf("drift record %+v change %+v", d, d.PolicyChange)
	}

	// Plan says what apply would do, and records nothing new: the newest
	// entry records this drift already.
	b := z.build("1.0.0", "true", 1)
	if _, err := MakePlan(context.Background(), z.opts(b)); !errors.As(err, &re) || re.Reason != receipt.ReasonPolicyUncommitted ||
		!strings.Contains(err.Error(), "apply would refuse every bundle") {
		t.Fatalf("plan: %v", err)
	}
	if n := len(z.chainAll()); n != before+1 {
		t.Fatalf("plan wrote another drift record: %d entries", n)
	}
	if st, err := ReadStatus(z.trust); err == nil || !slices.ContainsFunc(st.Problems, func(p string) bool { return strings.Contains(p, "is not the policy receipt") }) {
		t.Fatalf("status: %v %+v", err, st)
	}

	// Another edit is another drift; a commit ends it.
	z.editTrust(func(s string) string { return strings.Replace(s, "variables:\n", "variables:\n  Greeting: hi\n", 1) })
	if res, _ := RecordDrift(context.Background(), z.opts("")); res == nil || res.Already || res.Seq != uint64(before+2) {
		t.Fatalf("a second edit: %+v", res)
	}
	z.commit()
	if res, err := RecordDrift(context.Background(), z.opts("")); err != nil || !res.Unchanged {
		t.Fatalf("after the commit: %+v %v", res, err)
	}
	if _, err := MakePlan(context.Background(), z.opts(b)); err != nil {
		t.Fatalf("plan after the commit: %v", err)
	}
}
