package audit

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

var regenFixtures = flag.Bool("regen-fixtures", false, "regenerate testdata/golden (new keys and signatures); then run with -update")

// The committed golden fixture: two zones, each with its own receipt key,
// and a ledger signed by a builder (release) and an approver key.
const (
	goldenDir      = "testdata/golden"
	goldenReceipts = goldenDir + "/receipts"
	goldenLedger   = goldenDir + "/ledger"
	goldenKeys     = goldenDir + "/keys"
)

// goldenBundles are the bundles of the golden ledger.
func goldenBundles() map[string]*testBundle {
	day := func(d, h int) time.Time { return t0.AddDate(0, 0, d-1).Add(time.Duration(h) * time.Hour) }
	both := []string{"pci-east", "pci-west"}
	west := []string{"pci-west"}
	return map[string]*testBundle{
		"B1": {id: testUUID("01JQ0PAY240"), name: "payments-api", version: "2.4.0", channel: "production", seq: 1, zones: both, issued: day(1, 9), expires: day(15, 9), ticket: "CHG-1001"},
		"B2": {id: testUUID("01JQ0PAY241"), name: "payments-api", version: "2.4.1", channel: "production", seq: 2, zones: both, issued: day(8, 9), expires: day(22, 9), ticket: "CHG-1002"},
		"B3": {id: testUUID("01JQ0PAY242"), name: "payments-api", version: "2.4.2", channel: "production", seq: 3, zones: both, issued: day(9, 12), expires: day(16, 12), ticket: "CHG-1003"},
		"B4": {id: testUUID("01JQ0PAY243"), name: "payments-api", version: "2.4.3", channel: "production", seq: 4, zones: both, issued: day(10, 9), expires: day(24, 9), ticket: "CHG-1004",
			impact: "SIA-77: no change to the cardholder data flow", backout: "previous release restored by the failure steps",
			evidence: []bundle.Evidence{{Path: "tests/junit.xml", SHA256: sha256Hex([]byte("junit 2.4.3"))}}},
		"B5": {id: testUUID("01JQ0PAY250"), name: "payments-api", version: "2.5.0", channel: "production", seq: 5, zones: both, issued: day(25, 9), expires: day(38, 9), ticket: "CHG-1005"},
		"R1": {id: testUUID("01JQ0REP100"), name: "reports-batch", version: "1.0.0", channel: "production", seq: 1, zones: west, issued: day(2, 9), expires: day(16, 9), ticket: "CHG-2001"},
		"R2": {id: testUUID("01JQ0REP110"), name: "reports-batch", version: "1.1.0", channel: "production", seq: 2, zones: west, issued: day(11, 9), expires: day(25, 9), ticket: "CHG-2002"},
	}
}

// TestRegenerateFixtures writes testdata/golden. It runs only with
// -regen-fixtures: signatures are randomized, so the fixture is generated
// once and committed, and the golden outputs are made from it.
//
// Zone pci-east was made with zone init: its chain starts with a genesis
// record and every receipt is format version 2 (statement-digest links),
// some co-signed by an operator. Zone pci-west upgraded: two format
// version 1 receipts (envelope-digest links), then a first policy commit
// and version 2 receipts.
func TestRegenerateFixtures(t *testing.T) {
	if !*regenFixtures {
		t.Skip("run with -regen-fixtures to rewrite testdata/golden")
	}
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	east, west, builder, approver, alice := newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)
	for name, k := range map[string]*keys.Signer{"receipt-pci-east": east, "receipt-pci-west": west, "builder": builder, "approver": approver, "operator-alice": alice} {
		writeFile(t, filepath.Join(goldenKeys, name+".pub"), k.Public().PEM())
	}
	bs := goldenBundles()
	for _, b := range bs {
		writeFile(t, filepath.Join(goldenLedger, b.ledgerPath()), b.sign(t, builder, approver))
	}
	g := goldenPeople{
		release: []receipt.PolicyKey{{KeyID: builder.Public().ID(), Name: "Bea Builder"}},
		approve: []receipt.PolicyKey{{KeyID: approver.Public().ID(), Name: "Ann Approver"}},
		alice:   receipt.PolicyKey{KeyID: alice.Public().ID(), Name: "Alice Roe"},
		key:     alice,
	}
	writeGoldenEast(t, newChain(t, goldenReceipts, "pci-east", east), bs, g)
	writeGoldenWest(t, newChain(t, goldenReceipts, "pci-west", west), bs, g)
}

// goldenPeople are the keys of the golden zones' policies.
type goldenPeople struct {
	release, approve []receipt.PolicyKey
	alice            receipt.PolicyKey // operator
	key              *keys.Signer      // alice's operator key
}

// apply describes one golden apply.
type goldenApply struct {
	b        *testBundle
	at       time.Time
	operator string
	result   receipt.OutcomeResult
	reason   receipt.Reason
	message  string
	steps    func(start time.Time) []receipt.Step
	failed   receipt.CheckName // a check that failed (refusals)
	log      bool              // write an encrypted log beside it
	files    bool              // write the deployed file list beside it
	policy   *receipt.Policy   // the policy in force (version 2)
	cosign   *goldenPeople     // the operator co-signs
	root     bool              // ran as root through sudo
	unsynced bool              // the clock was not synchronised
}

var goldenStorage = &receipt.Storage{DirMode: "0700", FileMode: "0640"}

func (c *chainWriter) apply(g goldenApply) {
	c.clock = g.at
	c.next(func(p *receipt.Predicate) {
		p.Bundle = g.b.ref()
		p.Operator = receipt.Operator{User: g.operator, UID: uidOf(g.operator)}
		if g.root {
			p.Operator = receipt.Operator{User: "root", UID: "0", SudoUser: g.operator, SudoUID: uidOf(g.operator), Terminal: "/dev/pts/1"}
		}
		p.Outcome = receipt.Outcome{Result: g.result, Reason: g.reason, Message: g.message}
		p.Steps = []receipt.Step{} // as the applier writes a receipt where no step ran
		if g.steps != nil {
			p.Steps = g.steps(g.at)
		}
		if g.failed != "" {
			for i := range p.Checks {
				if p.Checks[i].Name == g.failed {
					p.Checks[i].Result, p.Checks[i].Detail = receipt.Fail, g.message
				}
			}
		}
		if g.log {
			p.Logs = &receipt.LogRef{Name: logName(c.zone, p.Seq), SHA256: sha256Hex(fakeAgeLog)}
		}
		if g.files {
			p.Files = deployedFiles(g.b)
			p.FilesTotal, p.FilesList, p.FilesSHA256 = len(p.Files), filesListName(c.zone, p.Seq), sha256Hex(receipt.FilesList(p.Files))
		}
		if g.policy != nil {
			p.Event, p.Policy, p.Storage = receipt.EventApply, g.policy, goldenStorage
			p.Bundle.Signers = namedSigners(p.Bundle.Signers, g.policy)
			p.Time.Source = "system clock"
			p.Time.Clock = &receipt.Clock{Synchronised: !g.unsynced, EstimatedErrorMicros: 1200, MaxErrorMicros: 48000, Service: "chronyd", Method: "adjtimex"}
			if g.unsynced {
				p.Time.Clock.EstimatedErrorMicros, p.Time.Clock.MaxErrorMicros, p.Time.Clock.Service = 16000000, 16000000, ""
			}
		}
		if g.cosign != nil {
			p.Operator.Name = g.cosign.alice.Name
			p.Operator.Key = receipt.NewOperatorKey(g.cosign.key.Public(), g.cosign.alice.Name)
		}
		end := g.at.Add(20 * time.Second)
		for _, s := range p.Steps {
			if s.Finished.After(end) {
				end = s.Finished.Add(time.Second)
			}
		}
		p.Time.Finished = end
	})
	if g.log {
		writeFile(c.tb, filepath.Join(c.dir, c.zone, logName(c.zone, c.seq)), fakeAgeLog)
	}
	if g.files {
		writeFile(c.tb, filepath.Join(c.dir, c.zone, filesListName(c.zone, c.seq)), receipt.FilesList(deployedFiles(g.b)))
	}
}

// namedSigners gives each signer the name the policy has for its key, as
// a zone of format version 2 records them.
func namedSigners(ss []receipt.Signer, pol *receipt.Policy) []receipt.Signer {
	out := make([]receipt.Signer, len(ss))
	for i, s := range ss {
		out[i] = s
		for _, r := range pol.Roles {
			for _, k := range r.Keys {
				if k.KeyID == s.KeyID {
					out[i].Name = k.Name
				}
			}
		}
	}
	return out
}

// deployedFiles are the files a golden apply of b deployed.
func deployedFiles(b *testBundle) []receipt.File {
	root := "/srv/" + b.name + "/releases/" + b.version
	return []receipt.File{
		{Path: root + "/bin/server", SHA256: sha256Hex([]byte(b.id + "server"))},
		{Path: root + "/config/app.json", SHA256: sha256Hex([]byte(b.id + "config"))},
	}
}

// logName is the applier's name for a receipt's encrypted log, beside it.
func logName(zone string, seq uint64) string {
	return receipt.LogName(path.Base(receiptName(zone, seq)))
}

// filesListName is the applier's name for a receipt's deployed file list.
func filesListName(zone string, seq uint64) string {
	return receipt.FilesListName(path.Base(receiptName(zone, seq)))
}

// fakeAgeLog stands for an age-encrypted full log: audit only has to
// check its digest.
var fakeAgeLog = []byte("age-encryption.org/v1\n-> X25519 dGVzdCBmaXh0dXJlIG9ubHksIG5vdCBhIHJlYWwgc3RhbnphCg\nbm90IGEgcmVhbCBib2R5Cg\n--- bm90IGEgcmVhbCBtYWMK\n")

func uidOf(user string) string {
	return map[string]string{"alice": "1001", "bob": "1002", "dave": "1004", "erin": "1005"}[user]
}

func at(d, h, m int) time.Time {
	return t0.AddDate(0, 0, d-1).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func deploySteps(start time.Time) []receipt.Step {
	return []receipt.Step{
		step("stop service", "run", "success", start, 3*time.Second, receipt.StepSucceeded, 0),
		step("install", "deploy", "success", start.Add(3*time.Second), 41*time.Second, receipt.StepSucceeded, 0),
		step("migrate", "script", "success", start.Add(44*time.Second), 95*time.Second, receipt.StepSucceeded, 0),
		step("start service", "run", "success", start.Add(139*time.Second), 4*time.Second, receipt.StepSucceeded, 0),
		step("roll back", "rollback", "failure", time.Time{}, 0, receipt.StepSkipped, 0),
	}
}

func admin(name string) receipt.Operator {
	return receipt.Operator{User: name, UID: uidOf(name), Name: "Alice Roe", Note: "CHG-0999 zone set-up"}
}

func writeGoldenEast(t *testing.T, c *chainWriter, bs map[string]*testBundle, g goldenPeople) {
	c.cosigner = g.key
	p1 := testPolicy("east trust v1", "pci-east", g.release, g.approve, g.alice)
	p2 := testPolicy("east trust v2", "pci-east", g.release, g.approve, g.alice)
	c.clock = at(1, 12, 0)
	c.control(p1, nil, admin("alice"), func(p *receipt.Predicate) { p.Storage = goldenStorage })
	c.apply(goldenApply{b: bs["B1"], at: at(2, 9, 0), operator: "alice", result: receipt.Applied, reason: "ok", steps: deploySteps,
		files: true, policy: p1, cosign: &g})
	c.apply(goldenApply{b: bs["B2"], at: at(9, 10, 0), operator: "alice", result: receipt.Failed, reason: "step-failed",
		message: `step "migrate" failed after 3 attempts`, log: true, policy: p1, cosign: &g,
		steps: func(s time.Time) []receipt.Step {
			st := deploySteps(s)[:3]
			st[2] = step("migrate", "script", "success", s.Add(44*time.Second), 62*time.Second, receipt.StepFailed, 1)
			st[2].Attempts = 3
			st[2].Tail = "applying 0042_ledger.sql\nERROR:  relation \"ledger_entries\" already exists\n"
			return st
		}})
	c.apply(goldenApply{b: bs["B3"], at: at(10, 9, 30), operator: "dave", result: receipt.RolledBack, reason: "step-failed",
		message: `step "start service" failed; rolled back to 2.4.0`, policy: p1,
		steps: func(s time.Time) []receipt.Step {
			st := deploySteps(s)
			st[3] = step("start service", "run", "success", s.Add(139*time.Second), 30*time.Second, receipt.StepFailed, 3)
			st[3].Tail = "payments-api: listen tcp :8443: bind: address already in use\n"
			st[4] = step("roll back", "rollback", "failure", s.Add(170*time.Second), 12*time.Second, receipt.StepSucceeded, 0)
			return st
		}})
	c.clock = at(10, 16, 0)
	c.control(p2, p1, receipt.Operator{User: "alice", UID: "1001", Name: "Alice Roe", Note: "CHG-1010 log level", Key: receipt.NewOperatorKey(g.key.Public(), "Alice Roe")},
		func(p *receipt.Predicate) { p.Storage = goldenStorage })
	c.apply(goldenApply{b: bs["B4"], at: at(11, 9, 0), operator: "alice", result: receipt.Applied, reason: "ok", steps: deploySteps,
		files: true, policy: p2, cosign: &g, root: true})
	c.apply(goldenApply{b: bs["B4"], at: at(11, 15, 0), operator: "dave", result: receipt.AlreadyApplied, reason: "already-applied",
		message: "payments-api production #4 is already applied", policy: p2, unsynced: true})
	c.apply(goldenApply{b: bs["R2"], at: at(12, 8, 0), operator: "alice", result: receipt.Refused, reason: "target",
		message: "bundle targets zone:pci-west, this is zone pci-east", failed: "target", policy: p2})
}

func writeGoldenWest(t *testing.T, c *chainWriter, bs map[string]*testBundle, g goldenPeople) {
	c.v1 = true
	c.apply(goldenApply{b: bs["B1"], at: at(3, 14, 0), operator: "bob", result: receipt.Applied, reason: "ok", steps: deploySteps})
	c.apply(goldenApply{b: bs["R1"], at: at(4, 10, 0), operator: "bob", result: receipt.Applied, reason: "ok",
		steps: func(s time.Time) []receipt.Step {
			return []receipt.Step{step("install", "deploy", "success", s, 12*time.Second, receipt.StepSucceeded, 0)}
		}})
	// The zone upgrades: version 2 receipts, its policy recorded first.
	c.v1 = false
	p := testPolicy("west trust", "pci-west", g.release, g.approve)
	c.clock = at(12, 12, 0)
	c.control(p, nil, receipt.Operator{User: "bob", UID: "1002", Note: "upgrade to airlock 2"}, func(p *receipt.Predicate) { p.Storage = goldenStorage })
	c.apply(goldenApply{b: bs["B4"], at: at(12, 16, 0), operator: "bob", result: receipt.Applied, reason: "ok", steps: deploySteps, files: true, policy: p})
	c.apply(goldenApply{b: bs["R2"], at: at(13, 11, 0), operator: "erin", result: receipt.Applied, reason: "ok", policy: p,
		steps: func(s time.Time) []receipt.Step {
			return []receipt.Step{step("install", "deploy", "success", s, 14*time.Second, receipt.StepSucceeded, 0)}
		}})
	c.apply(goldenApply{b: bs["B3"], at: at(20, 9, 0), operator: "bob", result: receipt.Refused, reason: "expiry",
		message: "bundle expired 2026-03-16 12:00:00Z", failed: "expiry", policy: p})
}

// goldenOptions audits the committed fixture with both receipt keys, the
// ledger and the builder's ledger key.
func goldenOptions(t *testing.T) Options {
	t.Helper()
	load := func(name string) *keys.PublicKey { return loadKey(t, filepath.Join(goldenKeys, name+".pub")) }
	return Options{
		Dir:        goldenReceipts,
		Keys:       []*keys.PublicKey{load("receipt-pci-east"), load("receipt-pci-west")},
		LedgerDir:  goldenLedger,
		LedgerKeys: []*keys.PublicKey{load("builder")},
		Now:        testNow,
		Version:    "test",
		Args:       []string{"--key", "receipt-pci-east.pub", "--key", "receipt-pci-west.pub", "--ledger", "ledger", "--ledger-key", "builder.pub"},
	}
}
