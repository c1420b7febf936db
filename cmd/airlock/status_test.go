package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/receipt"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// checkGolden compares got with testdata/golden/name.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\n got:\n%s\nwant:\n%s", p, got, want)
	}
}

var (
	applied1 = time.Date(2026, 11, 21, 10, 5, 0, 0, time.UTC)
	applied3 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	bundle1  = apply.StatusBundle{ID: "019aa0c2-5d40-7000-8000-000000000001", Name: "payments-api", Version: "2.4.1", Channel: "production", Sequence: 7}
	bundle3  = apply.StatusBundle{ID: "019aa0c2-5d40-7000-8000-000000000003", Name: "reports", Version: "1.2.0", Channel: "default", Sequence: 2}
	// A name with an escape sequence and a right-to-left override, as a
	// hostile or careless --operator could record it.
	shifty = receipt.Operator{User: "deploy", UID: "1001", Name: "Jane\x1b[31m Doe\u202e"}
)

func goldenStatus() *apply.ZoneStatus {
	return &apply.ZoneStatus{
		Zone: "pci-east", Host: "app-01", StateDir: "/var/lib/airlock/state", Receipts: 4,
		Targets: []apply.TargetStatus{
			{Target: "/srv/payments-api", Current: "releases/2.4.1", Previous: "releases/2.4.0", Link: "releases/2.4.1",
				Bundle: bundle1, Receipt: apply.StatusReceipt{Seq: 1, File: "receipt-pci-east-0000000001.dsse.json", SHA256: "3e7b…"},
				AppliedAt: applied1, Operator: shifty, ChannelSequence: 8, Application: "payments-api",
				SecretFiles: &apply.SecretFiles{Files: 2, Changed: []string{"/srv/payments-api/releases/2.4.1/config/app.json"}}},
			{Target: "/srv/reports", Current: "releases/1.2.0", Link: "releases/1.1.0",
				Bundle: bundle3, Receipt: apply.StatusReceipt{Seq: 3, File: "receipt-pci-east-0000000003.dsse.json", SHA256: "9a0c…"},
				AppliedAt: applied3, Operator: receipt.Operator{User: "root", UID: "0"}, ChannelSequence: 2, Application: "reports",
				SecretFiles: &apply.SecretFiles{Files: 1}},
		},
		Channels: []apply.ChannelStatus{
			{Name: "payments-api", Channel: "production", Sequence: 8, BundleID: "019aa0c2-5d40-7000-8000-000000000002", Version: "2.5.0", AppliedAt: applied3, Receipt: 2},
			{Name: "reports", Channel: "default", Sequence: 2, BundleID: bundle3.ID, Version: "1.2.0", AppliedAt: applied3, Receipt: 3},
		},
		Applications: []apply.ApplicationStatus{
			{Name: "billing", Roots: []string{"/srv/billing"}, Targets: []string{}, Channels: []string{}},
			{Name: "payments-api", Roots: []string{"/srv/payments-api"}, Targets: []string{"/srv/payments-api"}, Channels: []string{"production"}},
			{Name: "reports", Targets: []string{"/srv/reports"}, Channels: []string{"default"}},
		},
		Problems: []string{"receipt 4: receipt verification failed: predicate type \"x\u202ey\""},
	}
}

func goldenHistory() []apply.HistoryEntry {
	return []apply.HistoryEntry{
		{Receipt: apply.StatusReceipt{Seq: 6}, Verified: true, Finished: applied3.Add(2 * time.Hour), Event: receipt.EventPolicy, Outcome: receipt.Recorded,
			Reason: receipt.ReasonOK, Operator: receipt.Operator{User: "root", Name: "Olga Operator"}},
		{Receipt: apply.StatusReceipt{Seq: 5}, Verified: true, Finished: applied3.Add(time.Hour), Outcome: receipt.Refused,
			Reason: receipt.ReasonTargetOwned, Operator: receipt.Operator{User: "root"}, Application: "reports",
			Bundle: apply.StatusBundle{Name: "reports", Version: "1.3.0", Channel: "default", Sequence: 3}},
		{Receipt: apply.StatusReceipt{Seq: 4, File: "receipt-pci-east-0000000004.dsse.json"}, Problem: "receipt verification failed: signature: no valid signature from a trusted key"},
		{Receipt: apply.StatusReceipt{Seq: 3}, Verified: true, Finished: applied3, Outcome: receipt.Applied, Reason: receipt.ReasonOK,
			Bundle: bundle3, Operator: receipt.Operator{User: "root"}, Release: &receipt.Release{Target: "/srv/reports-b", Current: "releases/1.2.0"}, Application: "reports",
			Releases: []receipt.Release{{Target: "/srv/reports", Current: "releases/1.2.0"}, {Target: "/srv/reports-b", Current: "releases/1.2.0"}}},
		{Receipt: apply.StatusReceipt{Seq: 2}, Verified: true, Finished: applied3.Add(-time.Hour), Outcome: receipt.RolledBack, Reason: receipt.ReasonStepFailed,
			Bundle: apply.StatusBundle{Name: "payments-api", Version: "2.5.0", Channel: "production", Sequence: 8}, Operator: shifty, Application: "payments-api",
			Release: &receipt.Release{Target: "/srv/payments-api", Previous: "releases/2.4.1", Current: "releases/2.4.1"},
			Problem: "does not name receipt 1 as the one before it (the chain is broken)"},
		{Receipt: apply.StatusReceipt{Seq: 1}, Verified: true, Finished: applied1, Outcome: receipt.Applied, Reason: receipt.ReasonOK,
			Bundle: bundle1, Operator: shifty, Release: &receipt.Release{Target: "/srv/payments-api", Previous: "releases/2.4.0", Current: "releases/2.4.1"}, Resumed: true,
			Application: "payments-api"},
	}
}

func TestStatusGolden(t *testing.T) {
	var out bytes.Buffer
	printStatus(&out, goldenStatus())
	checkGolden(t, "status.txt", out.Bytes())
	if bytes.ContainsAny(out.Bytes(), "\x1b\u202e") {
		t.Error("status printed a control or bidirectional character as it is")
	}
	out.Reset()
	if err := writeJSON(&out, goldenStatus()); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "status.json", out.Bytes())
}

func TestHistoryGolden(t *testing.T) {
	var out bytes.Buffer
	printHistory(&out, goldenHistory())
	checkGolden(t, "history.txt", out.Bytes())
	if bytes.ContainsAny(out.Bytes(), "\x1b\u202e") {
		t.Error("history printed a control or bidirectional character as it is")
	}
	out.Reset()
	printHistory(&out, nil)
	if out.String() != "no receipts\n" {
		t.Errorf("empty history: %q", out.String())
	}
}
