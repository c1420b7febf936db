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
)

// The audit package's committed fixture: two zones' receipts, their keys
// and the builder's ledger.
const auditFixture = "../../verify/audit/testdata/golden"

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
	html := filepath.Join(t.TempDir(), "report.html")

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
			stdout: []string{"APPLIES (chain order)", "LEDGER", "FINDINGS", "ZONES", "PASS  11 receipts in 2 zones"},
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
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || !r.Summary.OK || r.Summary.Receipts != 11 {
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
			stdout: []string{"started 2026-03-11 00:00:00Z … 2026-03-11 23:59:59Z", "pci-east  4 ", "pci-east  5 "},
		},
		{name: "no key", args: []string{"audit", fx("receipts")}, code: exitUsage, stderr: "at least one --key"},
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
