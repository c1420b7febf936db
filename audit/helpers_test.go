package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// t0 is the start of the test fixtures' month.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// testNow is the fixed report time of the tests.
var testNow = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func newKey(tb testing.TB) *keys.Signer {
	tb.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func loadKey(tb testing.TB, path string) *keys.PublicKey {
	tb.Helper()
	k, err := keys.LoadPublic(path)
	if err != nil {
		tb.Fatalf("%v (regenerate the golden fixture with -regen-fixtures)", err)
	}
	return k
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// testBundle is a bundle the test builder signs into the ledger.
type testBundle struct {
	id, name, version, channel string
	seq                        uint64
	zones                      []string
	narrow                     []string // host: and role: targets
	issued, expires            time.Time
	ticket                     string
	impact, backout            string
	evidence                   []bundle.Evidence
	// filled by sign
	statementSHA string
	signers      []receipt.Signer
}

// targets are the bundle's targets: its zones, then host: and role:.
func (b *testBundle) targets() []string {
	targets := make([]string, len(b.zones))
	for i, z := range b.zones {
		targets[i] = "zone:" + z
	}
	return append(targets, b.narrow...)
}

func (b *testBundle) statement() bundle.Statement {
	targets := b.targets()
	return bundle.Statement{
		Type:          bundle.StatementType,
		Subject:       []bundle.Subject{{Name: bundle.ManifestFile, Digest: map[string]string{"sha256": sha256Hex([]byte(b.id + "manifest"))}}},
		PredicateType: bundle.PredicateType,
		Predicate: bundle.Predicate{
			FormatVersion: bundle.FormatVersion,
			BundleID:      b.id, Name: b.name, Version: b.version, Channel: b.channel, Sequence: b.seq,
			Targets: targets, IssuedAt: b.issued, Expires: b.expires,
			Change: &bundle.Change{Ticket: b.ticket, Reason: "release " + b.version, SecurityImpact: b.impact,
				Backout: b.backout, TestEvidence: b.evidence},
			Manifest: bundle.FileRef{Name: bundle.ManifestFile, Size: 1234, SHA256: sha256Hex([]byte(b.id + "manifest"))},
			Payload: bundle.Payload{
				Encryption: bundle.EncryptionAge, Compression: bundle.CompressionZstd, Archive: bundle.ArchiveTar,
				Parts: []bundle.FileRef{{Name: bundle.PayloadFile, Size: 4096, SHA256: sha256Hex([]byte(b.id + "payload"))}},
				Size:  4096, PlaintextSize: 10240, PlaintextSHA256: sha256Hex([]byte(b.id + "plain")), Entries: 12,
			},
			Builder: bundle.Builder{Tool: "airlock", Version: "0.9.0"},
		},
	}
}

// sign signs the bundle statement with release (and approve, if not nil)
// and returns the ledger envelope; it records the statement digest and
// the signers a zone would report.
func (b *testBundle) sign(tb testing.TB, release, approve *keys.Signer) []byte {
	tb.Helper()
	payload, err := json.Marshal(b.statement())
	if err != nil {
		tb.Fatal(err)
	}
	signers := []*keys.Signer{release}
	b.signers = []receipt.Signer{{KeyID: release.Public().ID(), Role: "release"}}
	if approve != nil {
		signers = append(signers, approve)
		b.signers = append(b.signers, receipt.Signer{KeyID: approve.Public().ID(), Role: "approve"})
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, signers...)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := dsse.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	b.statementSHA = sha256Hex(payload)
	return data
}

// ledgerPath is where the builder copies a statement, relative to the
// ledger folder.
func (b *testBundle) ledgerPath() string {
	st := b.statement()
	return bundle.LedgerPath("", &st.Predicate)
}

// testUUID makes a stable bundle id (a UUID, as the builder uses) from a
// label.
func testUUID(label string) string {
	h := sha256Hex([]byte(label))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (b *testBundle) ref() receipt.Bundle {
	targets := b.targets()
	rb := receipt.Bundle{
		Verified: true, Source: "/media/usb/" + b.name + "-" + b.version + bundle.Extension,
		StatementSHA256: b.statementSHA, ID: b.id, Name: b.name, Version: b.version, Channel: b.channel,
		Sequence: b.seq, IssuedAt: b.issued, Expires: b.expires, Targets: targets,
		Signers: b.signers, ChangeTicket: b.ticket, ChangeReason: "release " + b.version,
		ChangeSecurityImpact: b.impact, ChangeBackout: b.backout,
	}
	for _, e := range b.evidence {
		rb.ChangeTestEvidence = append(rb.ChangeTestEvidence, receipt.TestEvidence{Path: e.Path, SHA256: e.SHA256})
	}
	return rb
}

// chainWriter writes one zone's chain of receipts into dir/zone/.
type chainWriter struct {
	tb     testing.TB
	dir    string
	zone   string
	key    *keys.Signer
	seq    uint64
	prev   string
	clock  time.Time
	host   string
	bundle receipt.Bundle
	// v1 writes format version 1 receipts (envelope-digest links), as an
	// airlock from before version 2 did.
	v1 bool
	// cosigner co-signs receipts whose operator names a key.
	cosigner *keys.Signer
}

func newChain(tb testing.TB, dir, zone string, key *keys.Signer) *chainWriter {
	return &chainWriter{tb: tb, dir: dir, zone: zone, key: key, clock: t0.Add(9 * time.Hour), host: zone + "-01",
		bundle: receipt.Bundle{Verified: true, StatementSHA256: sha256Hex([]byte("statement")), ID: "b-test", Name: "svc", Version: "1.0.0",
			Channel: "production", Sequence: 1, Expires: t0.AddDate(1, 0, 0),
			Signers: []receipt.Signer{{KeyID: "SHA256:release", Role: "release"}, {KeyID: "SHA256:approve", Role: "approve"}}}}
}

// predicate returns the predicate of the next receipt, without writing it.
func (c *chainWriter) predicate() *receipt.Predicate {
	seq := c.seq + 1
	start := c.clock
	return &receipt.Predicate{
		ReceiptID:  fmt.Sprintf("%s-%06d", c.zone, seq),
		Zone:       c.zone,
		Seq:        seq,
		PrevSHA256: c.prev,
		Bundle:     c.bundle,
		Operator:   receipt.Operator{User: "alice", UID: "1001"},
		Host:       receipt.Host{Name: c.host, OS: "linux", Arch: "amd64"},
		Applier:    receipt.Applier{Version: "0.9.0"},
		Time:       receipt.Times{Started: start, Finished: start.Add(2 * time.Minute), Source: "system"},
		Checks:     okChecks(),
		Steps: []receipt.Step{
			step("install", "deploy", "success", start, 30*time.Second, receipt.StepSucceeded, 0),
			step("start service", "run", "success", start.Add(30*time.Second), 5*time.Second, receipt.StepSucceeded, 0),
		},
		Outcome: receipt.Outcome{Result: receipt.Applied, Reason: "ok"},
	}
}

// next signs and writes the next receipt, after mut changes its predicate.
func (c *chainWriter) next(mut ...func(*receipt.Predicate)) (file string, data []byte) {
	p := c.predicate()
	for _, m := range mut {
		m(p)
	}
	data = c.sign(p)
	file = c.write(p.Seq, data)
	c.seq = p.Seq
	c.prev = linkOf(c.tb, data)
	c.clock = c.clock.Add(time.Hour)
	return file, data
}

func (c *chainWriter) sign(p *receipt.Predicate) []byte {
	c.tb.Helper()
	subjects := []receipt.Subject{{Name: "statement", Digest: map[string]string{"sha256": p.Bundle.StatementSHA256}}}
	if c.v1 {
		return signV1(c.tb, p, subjects, c.key)
	}
	var co []*keys.Signer
	if p.Operator.Key != nil && c.cosigner != nil {
		co = append(co, c.cosigner)
	}
	data, err := receipt.Sign(p, subjects, c.key, co...)
	if err != nil {
		c.tb.Fatal(err)
	}
	return data
}

// signV1 signs a format version 1 receipt, as airlock did before version 2.
func signV1(tb testing.TB, p *receipt.Predicate, subjects []receipt.Subject, key *keys.Signer) []byte {
	tb.Helper()
	st := receipt.Statement{Type: receipt.StatementType, Subject: subjects, PredicateType: receipt.PredicateType, Predicate: *p}
	st.Predicate.FormatVersion = 1
	payload, err := json.Marshal(st)
	if err != nil {
		tb.Fatal(err)
	}
	env, err := dsse.Sign(dsse.InTotoPayloadType, payload, key)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := dsse.Marshal(env)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// control writes a control change — a genesis record, or a policy commit
// from the policy before — recording pol.
func (c *chainWriter) control(pol, before *receipt.Policy, op receipt.Operator, mut ...func(*receipt.Predicate)) (string, []byte) {
	return c.next(append([]func(*receipt.Predicate){func(p *receipt.Predicate) {
		p.Event, p.Policy, p.Operator = receipt.EventGenesis, pol, op
		p.Bundle, p.Steps = receipt.Bundle{}, []receipt.Step{}
		p.Outcome = receipt.Outcome{Result: receipt.Recorded, Reason: receipt.ReasonOK, Message: "zone " + c.zone + " created"}
		if p.Seq > 1 {
			p.Event, p.PolicyChange = receipt.EventPolicy, zone.Diff(before, pol)
			p.Outcome.Message = "policy committed: " + zone.DescribeChange(p.PolicyChange)
		}
		p.Time.Finished = p.Time.Started
	}}, mut...)...)
}

// testPolicy is a recorded policy: release and approve keys, operators.
func testPolicy(sha, zoneName string, release, approve []receipt.PolicyKey, operators ...receipt.PolicyKey) *receipt.Policy {
	p := &receipt.Policy{SHA256: sha256Hex([]byte(sha)), Zone: zoneName,
		Roles: []receipt.PolicyRole{{Name: "release", Threshold: 1, Keys: release}}, Operators: operators}
	if len(approve) > 0 {
		p.Roles = append(p.Roles, receipt.PolicyRole{Name: "approve", Threshold: 1, Keys: approve})
	}
	return p
}

// receiptName is the applier's name for a receipt:
// <zone>/receipt-<zone>-<seq, 10 digits>.dsse.json under the folder the
// auditor carried out (the zone's state directory's receipts/).
func receiptName(zone string, seq uint64) string {
	return fmt.Sprintf("%s/receipt-%s-%010d.dsse.json", zone, zone, seq)
}

// write stores a receipt under receiptName and returns that path.
func (c *chainWriter) write(seq uint64, data []byte) string {
	rel := receiptName(c.zone, seq)
	writeFile(c.tb, filepath.Join(c.dir, filepath.FromSlash(rel)), data)
	return rel
}

func okChecks() []receipt.Check {
	var cs []receipt.Check
	for _, n := range []receipt.CheckName{"statement-signature", "approval", "expiry", "target", "sequence", "manifest", "payload"} {
		cs = append(cs, receipt.Check{Name: n, Result: receipt.Pass})
	}
	return cs
}

func step(name, kind, when string, start time.Time, d time.Duration, result receipt.StepResult, exit int) receipt.Step {
	s := receipt.Step{Name: name, Kind: kind, When: when, Started: start, Finished: start.Add(d), Attempts: 1, ExitCode: exit, Result: result,
		StdoutSHA256: sha256Hex([]byte(name + "out")), StderrSHA256: sha256Hex([]byte(name + "err"))}
	if result == receipt.StepFailed {
		s.Error = fmt.Sprintf("exit status %d", exit)
	}
	return s
}

// linkOf is the link digest of a receipt: what the next one names.
func linkOf(tb testing.TB, data []byte) string {
	tb.Helper()
	r, err := receipt.Parse(data)
	if err != nil {
		tb.Fatal(err)
	}
	return r.SHA256
}

// entriesOf reads a zone's entries in the report window.
func entriesOf(tb testing.TB, r *Report, zone string) []Apply {
	tb.Helper()
	es, err := r.ZoneEntries(zone)
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

// runAudit audits dir with the keys and fails the test on an error.
func runAudit(tb testing.TB, opts Options) *Report {
	tb.Helper()
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	r, err := Run(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	return r
}

func pubs(ss ...*keys.Signer) []*keys.PublicKey {
	out := make([]*keys.PublicKey, len(ss))
	for i, s := range ss {
		out[i] = s.Public()
	}
	return out
}

// findingsOf returns the findings of a kind.
func findingsOf(r *Report, kind string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// kindsOf lists the kinds of findings of a severity, sorted.
func kindsOf(r *Report, severity string) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity == severity {
			out = append(out, f.Kind)
		}
	}
	slices.Sort(out)
	return out
}

func dumpFindings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s %s#%d %s: %s %v\n", f.Severity, f.Kind, f.Zone, f.Seq, f.File, f.Message, f.Related)
	}
	return b.String()
}

// copyTree copies the regular files under src into dst.
func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeFile(tb, filepath.Join(dst, rel), data)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
