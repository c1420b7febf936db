package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/keys"
)

// The audit package's committed fixture: two zones' receipts, their keys
// and the builder's ledger.
const auditFixture = "../../audit/testdata/golden"

func TestAuditCommand(t *testing.T) {
	fx := func(p string) string { return filepath.Join(auditFixture, p) }
	keyArgs := []string{"--key", fx("keys/receipt-pci-east.pub"), "--key", fx("keys/receipt-pci-west.pub")}
	ledgerArgs := []string{"--ledger", fx("ledger"), "--ledger-key", fx("keys/builder.pub")}

	broken := t.TempDir()
	if err := os.CopyFS(broken, os.DirFS(fx("receipts"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(broken, "pci-east", "receipt-pci-east-0000000004.dsse.json")); err != nil {
		t.Fatal(err)
	}
	// The newest receipt of pci-east is not carried out: the folder alone
	// cannot show it, the state of an earlier audit does.
	truncated := t.TempDir()
	if err := os.CopyFS(truncated, os.DirFS(fx("receipts"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(truncated, "pci-east", "receipt-pci-east-0000000008.dsse.json")); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	html := filepath.Join(out, "report.html")
	state := filepath.Join(out, "audit-state.json")
	attest := filepath.Join(out, "audit.intoto.json")
	attestKey := filepath.Join(out, "auditor.key")
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(attestKey, priv, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     string
		checkFiles func(t *testing.T, stdout string)
	}{
		{
			name:   "clean folder passes",
			args:   slices.Concat([]string{"audit", fx("receipts")}, keyArgs, ledgerArgs),
			code:   exitOK,
			stdout: []string{"ENTRIES (chain order)", "LEDGER", "FINDINGS", "PCI DSS EVIDENCE", "ZONES", "PASS  14 receipts in 2 zones"},
		},
		{
			name:   "fail on warning",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--fail-on", "warning"}, keyArgs, ledgerArgs),
			code:   exitVerify,
			stdout: []string{"PASS  14 receipts"},
			stderr: "with --fail-on warning",
		},
		{
			name: "state, attestation, jsonl",
			args: slices.Concat([]string{"audit", fx("receipts"), "--jsonl", "--state", state, "--attest", attest, "--attest-key", attestKey}, keyArgs),
			code: exitOK,
			checkFiles: func(t *testing.T, stdout string) {
				lines := strings.Split(strings.TrimSpace(stdout), "\n")
				if len(lines) < 15 || !strings.Contains(lines[0], `"type":"audit"`) || !strings.Contains(lines[1], `"type":"receipt"`) {
					t.Errorf("jsonl: %d lines, first %q", len(lines), lines[0])
				}
				for _, f := range []string{state, attest} {
					if b, err := os.ReadFile(f); err != nil || !json.Valid(b) {
						t.Errorf("%s: %v", f, err)
					}
				}
			},
		},
		{
			name:   "state reached again",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--state", state}, keyArgs),
			code:   exitOK,
			stdout: []string{"PASS"},
		},
		{
			name:   "without the state a missing newest receipt passes",
			args:   slices.Concat([]string{"audit", truncated}, keyArgs),
			code:   exitOK,
			stdout: []string{"PASS  13 receipts"},
		},
		{
			name:   "with the state it is truncated",
			args:   slices.Concat([]string{"audit", truncated, "--state", state}, keyArgs),
			code:   exitVerify,
			stdout: []string{"truncated", "the audit state names head seq 8", "ends at seq 7"},
			stderr: "1 truncated chain",
		},
		{
			name:   "the state keeps the head after a failed audit",
			args:   slices.Concat([]string{"audit", truncated, "--state", state}, keyArgs),
			code:   exitVerify,
			stdout: []string{"truncated"},
		},
		{
			name:   "a zone outside --zone is not checked against the state",
			args:   slices.Concat([]string{"audit", truncated, "--state", state, "--zone", "pci-west"}, keyArgs),
			code:   exitOK,
			stdout: []string{"PASS  6 receipts in 1 zone"},
		},
		{
			name:   "expect a head the folder lacks",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--expect", "pci-east=" + strings.Repeat("ab", 32)}, keyArgs),
			code:   exitVerify,
			stdout: []string{"truncated", "--expect names head sha256 abababababab"},
		},
		{
			name:   "a key that signed nothing",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--key", fx("keys/builder.pub")}, keyArgs),
			code:   exitVerify,
			stdout: []string{"unused-key"},
		},
		{
			name: "json and html",
			args: slices.Concat([]string{"audit", fx("receipts"), "--json", "--html", html}, keyArgs, ledgerArgs),
			code: exitOK,
			checkFiles: func(t *testing.T, stdout string) {
				var r struct {
					Summary struct {
						OK       bool `json:"ok"`
						Receipts int  `json:"receipts"`
					} `json:"summary"`
				}
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || !r.Summary.OK || r.Summary.Receipts != 14 {
					t.Errorf("json summary %+v, err %v", r.Summary, err)
				}
				page, err := os.ReadFile(html)
				if err != nil || !bytes.Contains(page, []byte(`<section id="summary">`)) {
					t.Errorf("html report: %v", err)
				}
			},
		},
		{
			name:   "broken chain exits 3 after printing the report",
			args:   slices.Concat([]string{"audit", broken}, keyArgs, ledgerArgs),
			code:   exitVerify,
			stdout: []string{"gap", "missing receipt seq 4", "BROKEN", "FAIL  1 problem (1 gap)"},
			stderr: "airlock: audit: 1 problem (1 gap)\n",
		},
		{
			name:   "window",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--since", "2026-03-11", "--until", "2026-03-11"}, keyArgs),
			code:   exitOK,
			stdout: []string{"started 2026-03-11 00:00:00Z … 2026-03-11 23:59:59Z", "pci-east  pci-east-01  6 ", "pci-east  pci-east-01  7 "},
		},
		{name: "json and jsonl", args: slices.Concat([]string{"audit", fx("receipts"), "--json", "--jsonl"}, keyArgs), code: exitUsage, stderr: "exclusive"},
		{name: "attest without key", args: slices.Concat([]string{"audit", fx("receipts"), "--attest", attest}, keyArgs), code: exitUsage, stderr: "go together"},
		{name: "bad fail-on", args: slices.Concat([]string{"audit", fx("receipts"), "--fail-on", "info"}, keyArgs), code: exitUsage, stderr: "--fail-on"},
		{name: "bad expect", args: slices.Concat([]string{"audit", fx("receipts"), "--expect", "pci-east"}, keyArgs), code: exitUsage, stderr: "ZONE[/HOST]=SHA256"},
		{name: "no key", args: []string{"audit", fx("receipts")}, code: exitUsage, stderr: "give --zone-register (a zone's zone.yaml) or --key"},
		{name: "no folder", args: slices.Concat([]string{"audit"}, keyArgs), code: exitUsage},
		{name: "bad since", args: slices.Concat([]string{"audit", fx("receipts"), "--since", "last week"}, keyArgs), code: exitUsage, stderr: "--since"},
		{name: "ledger key without ledger", args: slices.Concat([]string{"audit", fx("receipts"), "--ledger-key", fx("keys/builder.pub")}, keyArgs), code: exitUsage},
		{name: "missing folder", args: slices.Concat([]string{"audit", filepath.Join(broken, "nope")}, keyArgs), code: exitError, stderr: "no such file"},
		{name: "not a key", args: []string{"audit", fx("receipts"), "--key", fx("report.txt")}, code: exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderr)
			}
			if tt.checkFiles != nil {
				tt.checkFiles(t, stdout.String())
			}
		})
	}
}
