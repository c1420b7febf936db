package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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
	attestKey := newKeyFile(t, filepath.Join(out, "auditor.key"))

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
			stdout: []string{"FAIL  ", "with --fail-on warning in 14 receipts", "FAILS warning"},
			stderr: "with --fail-on warning",
		},
		{
			name:   "fail on a kind",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--fail-on", "never-applied,clock-unsynchronised"}, keyArgs, ledgerArgs),
			code:   exitVerify,
			stdout: []string{"FAIL  4 problems (3 bundles never applied, 1 apply on an unsynchronised clock) with --fail-on never-applied,clock-unsynchronised", "FAILS never-applied"},
			stderr: "with --fail-on never-applied,clock-unsynchronised",
		},
		{
			name: "state, attestation, jsonl",
			args: slices.Concat([]string{"audit", fx("receipts"), "--jsonl", "--state", state, "--state-key", attestKey, "--first-audit", "--attest", attest, "--attest-key", attestKey}, keyArgs),
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
			args:   slices.Concat([]string{"audit", fx("receipts"), "--state", state, "--state-key", attestKey}, keyArgs),
			code:   exitOK,
			stdout: []string{"PASS"},
		},
		{
			name:   "without the state a missing newest receipt passes",
			args:   slices.Concat([]string{"audit", truncated}, keyArgs),
			code:   exitOK,
			stdout: []string{"PASS  13 receipts", "completeness NOT CHECKED (no earlier head to compare for 2 chains"},
		},
		{
			name:   "with the state it is truncated",
			args:   slices.Concat([]string{"audit", truncated, "--state", state, "--state-key", attestKey}, keyArgs),
			code:   exitVerify,
			stdout: []string{"truncated", "the audit state names head seq 8", "ends at seq 7"},
			stderr: "1 truncated chain",
		},
		{
			name:   "the state keeps the head after a failed audit",
			args:   slices.Concat([]string{"audit", truncated, "--state", state, "--state-key", attestKey}, keyArgs),
			code:   exitVerify,
			stdout: []string{"truncated"},
		},
		{
			name:   "a zone outside --zone is not checked against the state",
			args:   slices.Concat([]string{"audit", truncated, "--state", state, "--state-key", attestKey, "--zone", "pci-west"}, keyArgs),
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
		{name: "state without key", args: slices.Concat([]string{"audit", fx("receipts"), "--state", state}, keyArgs), code: exitUsage, stderr: "--state and --state-key go together"},
		{name: "first audit without state", args: slices.Concat([]string{"audit", fx("receipts"), "--first-audit"}, keyArgs), code: exitUsage, stderr: "--first-audit needs --state"},
		{
			name:   "first audit again",
			args:   slices.Concat([]string{"audit", fx("receipts"), "--state", state, "--state-key", attestKey, "--first-audit"}, keyArgs),
			code:   exitError,
			stderr: "exists, so an audit kept a state there before",
		},
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

// TestAuditStateSigned: the audit state is signed by the auditor's key.
// A state that was edited (a head removed, a head rolled back), emptied,
// deleted or signed by another key fails the audit — exit 3, the report
// naming why — and is left as it was; a missing state passes only as the
// first audit, which the report records. The newest receipt removed from
// the media is then found, whatever was done to the state.
func TestAuditStateSigned(t *testing.T) {
	fx := func(p string) string { return filepath.Join(auditFixture, p) }
	keyArgs := []string{"--key", fx("keys/receipt-pci-east.pub"), "--key", fx("keys/receipt-pci-west.pub")}
	dir := t.TempDir()
	auditor, other := newKeyFile(t, filepath.Join(dir, "auditor.key")), newKeyFile(t, filepath.Join(dir, "other.key"))
	// The newest receipt of pci-east is not carried out the second time.
	truncated := filepath.Join(dir, "truncated")
	if err := os.CopyFS(truncated, os.DirFS(fx("receipts"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(truncated, "pci-east", "receipt-pci-east-0000000008.dsse.json")); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "audit.state")
	audit := func(folder, stateFile, key string, extra ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := slices.Concat([]string{"audit", folder, "--state", stateFile, "--state-key", key}, keyArgs, extra)
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := audit(fx("receipts"), state, auditor, "--first-audit"); code != exitOK || !strings.Contains(out, "PASS") {
		t.Fatalf("first audit: exit %d\n%s\n%s", code, out, errOut)
	}
	good, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
	}
	if err := json.Unmarshal(good, &env); err != nil || env.PayloadType != "application/vnd.airlock.audit-state+json" {
		t.Fatalf("the state is not a signed envelope (%v):\n%s", err, good)
	}
	// resign writes the state's payload changed by edit, with the
	// envelope's signature kept as it was.
	resign := func(edit func(map[string]any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(env.Payload, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		payload, _ := json.Marshal(doc)
		var whole map[string]any
		json.Unmarshal(good, &whole)
		whole["payload"] = payload
		out, _ := json.Marshal(whole)
		return out
	}
	heads := func(doc map[string]any) []any { return doc["heads"].([]any) }
	otherSigned := func() []byte {
		t.Helper()
		copyState := filepath.Join(t.TempDir(), "other.state")
		if code, out, _ := audit(fx("receipts"), copyState, other, "--first-audit"); code != exitOK {
			t.Fatalf("audit with the other key: %d\n%s", code, out)
		}
		b, _ := os.ReadFile(copyState)
		return b
	}
	for _, tc := range []struct {
		name  string
		state []byte // nil: no file
		want  []string
	}{
		{"a head removed", resign(func(d map[string]any) { d["heads"] = heads(d)[1:] }), []string{"state-invalid", "no signature verifies with the state key"}},
		{"a head rolled back", resign(func(d map[string]any) {
			h := heads(d)[0].(map[string]any)
			h["seq"], h["sha256"] = 7, strings.Repeat("0", 64)
		}), []string{"state-invalid", "no signature verifies with the state key"}},
		{"emptied", []byte{}, []string{"state-invalid", "the file is empty"}},
		{"another key", otherSigned(), []string{"state-invalid", "no signature verifies with the state key"}},
		{"deleted", nil, []string{"state-missing", "does not exist", "--first-audit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "audit.state")
			if tc.state != nil {
				if err := os.WriteFile(bad, tc.state, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := audit(truncated, bad, auditor)
			if code != exitVerify {
				t.Errorf("exit %d, want %d\n%s\n%s", code, exitVerify, out, errOut)
			}
			for _, want := range append(tc.want, "FAIL  ", "completeness NOT CHECKED") {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}
			if !strings.Contains(errOut, "left as it was") {
				t.Errorf("stderr: %s", errOut)
			}
			after, err := os.ReadFile(bad)
			if tc.state == nil && err == nil || tc.state != nil && !bytes.Equal(after, tc.state) {
				t.Errorf("the state was replaced after a failed check (%v)", err)
			}
		})
	}
	// The signed state finds the receipt that was not carried out.
	if code, out, _ := audit(truncated, state, auditor); code != exitVerify || !strings.Contains(out, "truncated") {
		t.Errorf("truncated folder with the state: exit %d\n%s", code, out)
	}
}

// TestAuditAck: a finding the last audit reported, acknowledged in the
// signed state, is still reported — marked acknowledged, with the note —
// and no longer fails its gate.
func TestAuditAck(t *testing.T) {
	fx := func(p string) string { return filepath.Join(auditFixture, p) }
	dir := t.TempDir()
	key := newKeyFile(t, filepath.Join(dir, "auditor.key"))
	state := filepath.Join(dir, "audit.state")
	base := []string{"audit", fx("receipts"), "--key", fx("keys/receipt-pci-east.pub"), "--key", fx("keys/receipt-pci-west.pub"),
		"--state", state, "--state-key", key, "--fail-on", "refused"}
	const id = "pci-east/pci-east-01/8/refused"
	for _, step := range []struct {
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{append(base, "--first-audit"), exitVerify, []string{`FAIL  2 problems \(2 refused applies\) with --fail-on refused`, `pci-east/pci-east-01/8/refused +warning +FAILS refused`}, "with --fail-on refused"},
		{[]string{"audit", "ack", "Not/An/Id", "--state", state, "--state-key", key, "--note", "x"}, exitUsage, nil, "not a finding ID"},
		{[]string{"audit", "ack", "pci-east/pci-east-01/9/refused", "--state", state, "--state-key", key, "--note", "x"}, exitError, nil, "found nothing with ID pci-east/pci-east-01/9/refused"},
		{[]string{"audit", "ack", id, "--state", state, "--state-key", key, "--note", "CHG-2002: tried on the wrong zone, applied on pci-west"}, exitOK,
			[]string{`acknowledged ` + id + ` \(warning, refused\): CHG-2002`, "1 acknowledgements"}, ""},
		{[]string{"audit", "ack", id, "--state", state, "--state-key", key, "--note", "again"}, exitError, nil, "acknowledged already"},
		{base, exitVerify, []string{`FAIL  1 problem \(1 refused apply\) with --fail-on refused`, `1 finding acknowledged \(1 refused apply\)`,
			`pci-east/pci-east-01/8/refused +warning +ACKNOWLEDGED`, `\[acknowledged 20.*: CHG-2002: tried on the wrong zone`}, "1 problem"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), step.args, strings.NewReader(""), &stdout, &stderr)
		if code != step.code {
			t.Errorf("airlock %s: exit %d, want %d\n%s\n%s", strings.Join(step.args, " "), code, step.code, stdout.String(), stderr.String())
		}
		for _, want := range step.stdout {
			if !regexp.MustCompile(want).MatchString(stdout.String()) {
				t.Errorf("airlock %s: stdout does not match %q:\n%s", strings.Join(step.args, " "), want, stdout.String())
			}
		}
		if !strings.Contains(stderr.String(), step.stderr) {
			t.Errorf("airlock %s: stderr %q lacks %q", strings.Join(step.args, " "), stderr.String(), step.stderr)
		}
	}
}

// newKeyFile writes a new private key, without a password, to path.
func newKeyFile(t *testing.T, path string) string {
	t.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
