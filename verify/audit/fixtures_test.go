package audit

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		"B4": {id: testUUID("01JQ0PAY243"), name: "payments-api", version: "2.4.3", channel: "production", seq: 4, zones: both, issued: day(10, 9), expires: day(24, 9), ticket: "CHG-1004"},
		"B5": {id: testUUID("01JQ0PAY250"), name: "payments-api", version: "2.5.0", channel: "production", seq: 5, zones: both, issued: day(25, 9), expires: day(38, 9), ticket: "CHG-1005"},
		"R1": {id: testUUID("01JQ0REP100"), name: "reports-batch", version: "1.0.0", channel: "production", seq: 1, zones: west, issued: day(2, 9), expires: day(16, 9), ticket: "CHG-2001"},
		"R2": {id: testUUID("01JQ0REP110"), name: "reports-batch", version: "1.1.0", channel: "production", seq: 2, zones: west, issued: day(11, 9), expires: day(25, 9), ticket: "CHG-2002"},
	}
}

// TestRegenerateFixtures writes testdata/golden. It runs only with
// -regen-fixtures: signatures are randomized, so the fixture is generated
// once and committed, and the golden outputs are made from it.
func TestRegenerateFixtures(t *testing.T) {
	if !*regenFixtures {
		t.Skip("run with -regen-fixtures to rewrite testdata/golden")
	}
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	east, west, builder, approver := newKey(t), newKey(t), newKey(t), newKey(t)
	for name, k := range map[string]*keys.Signer{"receipt-pci-east": east, "receipt-pci-west": west, "builder": builder, "approver": approver} {
		writeFile(t, filepath.Join(goldenKeys, name+".pub"), k.Public().PEM())
	}
	bs := goldenBundles()
	for _, b := range bs {
		writeFile(t, filepath.Join(goldenLedger, b.ledgerPath()), b.sign(t, builder, approver))
	}
	writeGoldenEast(t, newChain(t, goldenReceipts, "pci-east", east), bs)
	writeGoldenWest(t, newChain(t, goldenReceipts, "pci-west", west), bs)
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
}

func (c *chainWriter) apply(g goldenApply) {
	c.clock = g.at
	c.next(func(p *receipt.Predicate) {
		p.Bundle = g.b.ref()
		p.Operator = receipt.Operator{User: g.operator, UID: uidOf(g.operator)}
		p.Outcome = receipt.Outcome{Result: g.result, Reason: g.reason, Message: g.message}
		p.Steps = nil
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
}

// logName is the applier's name for a receipt's encrypted log, beside it.
func logName(zone string, seq uint64) string {
	return strings.TrimSuffix(path.Base(receiptName(zone, seq)), ".dsse.json") + ".log.age"
}

// fakeAgeLog stands for an age-encrypted full log: audit only has to
// recognise that it is not a receipt.
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

func writeGoldenEast(t *testing.T, c *chainWriter, bs map[string]*testBundle) {
	c.apply(goldenApply{b: bs["B1"], at: at(2, 9, 0), operator: "alice", result: receipt.Applied, reason: "ok", steps: deploySteps})
	c.apply(goldenApply{b: bs["B2"], at: at(9, 10, 0), operator: "alice", result: receipt.Failed, reason: "step-failed",
		message: `step "migrate" failed after 3 attempts`, log: true,
		steps: func(s time.Time) []receipt.Step {
			st := deploySteps(s)[:3]
			st[2] = step("migrate", "script", "success", s.Add(44*time.Second), 62*time.Second, receipt.StepFailed, 1)
			st[2].Attempts = 3
			return st
		}})
	c.apply(goldenApply{b: bs["B3"], at: at(10, 9, 30), operator: "dave", result: receipt.RolledBack, reason: "step-failed",
		message: `step "start service" failed; rolled back to 2.4.0`,
		steps: func(s time.Time) []receipt.Step {
			st := deploySteps(s)
			st[3] = step("start service", "run", "success", s.Add(139*time.Second), 30*time.Second, receipt.StepFailed, 3)
			st[4] = step("roll back", "rollback", "failure", s.Add(170*time.Second), 12*time.Second, receipt.StepSucceeded, 0)
			return st
		}})
	c.apply(goldenApply{b: bs["B4"], at: at(11, 9, 0), operator: "alice", result: receipt.Applied, reason: "ok", steps: deploySteps})
	c.apply(goldenApply{b: bs["B4"], at: at(11, 15, 0), operator: "dave", result: receipt.AlreadyApplied, reason: "already-applied",
		message: "payments-api production #4 is already applied"})
	c.apply(goldenApply{b: bs["R2"], at: at(12, 8, 0), operator: "alice", result: receipt.Refused, reason: "wrong-target",
		message: "bundle targets zone:pci-west, this is zone pci-east", failed: "target"})
}

func writeGoldenWest(t *testing.T, c *chainWriter, bs map[string]*testBundle) {
	c.apply(goldenApply{b: bs["B1"], at: at(3, 14, 0), operator: "bob", result: receipt.Applied, reason: "ok", steps: deploySteps})
	c.apply(goldenApply{b: bs["R1"], at: at(4, 10, 0), operator: "bob", result: receipt.Applied, reason: "ok",
		steps: func(s time.Time) []receipt.Step {
			return []receipt.Step{step("install", "deploy", "success", s, 12*time.Second, receipt.StepSucceeded, 0)}
		}})
	c.apply(goldenApply{b: bs["B4"], at: at(12, 16, 0), operator: "bob", result: receipt.Applied, reason: "ok", steps: deploySteps})
	c.apply(goldenApply{b: bs["R2"], at: at(13, 11, 0), operator: "erin", result: receipt.Applied, reason: "ok",
		steps: func(s time.Time) []receipt.Step {
			return []receipt.Step{step("install", "deploy", "success", s, 14*time.Second, receipt.StepSucceeded, 0)}
		}})
	c.apply(goldenApply{b: bs["B3"], at: at(20, 9, 0), operator: "bob", result: receipt.Refused, reason: "expired",
		message: "bundle expired 2026-03-16 12:00:00Z", failed: "expiry"})
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
	}
}
