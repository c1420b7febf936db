package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"airlock.dev/airlock/apply"
	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/schematest"
	"airlock.dev/airlock/receipt"
)

// jsonCase is one run of a command with --json: the exit code it must
// end with and the schema (the command's) its output must follow.
type jsonCase struct {
	code int
	args []string
}

// TestJSONOutputsMatchSchemas runs every command that has --json for real
// — on a real zone, bundle and receipts — once succeeding and once
// failing, and checks that what it prints is one JSON object that
// follows the command's schema in doc/schemas, that it exits as it must,
// and that a failure's error object carries that exit code. It fails when
// a command with --json is not run both ways.
func TestJSONOutputsMatchSchemas(t *testing.T) {
	schemas := schematest.Schemas(t)
	c, _ := setupBundle(t)
	f, err := os.OpenFile(filepath.Join(c.dir, "zone", "trust.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The example's health check polls the service on Port: answer as the
	// new version would.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"version":"2.4.1"}`)
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	// Every change is co-signed by an operator, so that the audit passes.
	if _, err := fmt.Fprintf(f, "variables:\n  InstallRoot: %s\n  Port: \"%d\"\noperators:\n  - { path: keys/operator.pub, name: Olga Operator }\n",
		filepath.Join(c.dir, "srv"), port); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.airlock("key", "generate", "--no-password", "operator")
	if err := os.Rename(filepath.Join(c.dir, "operator.pub"), filepath.Join(c.dir, "zone", "keys", "operator.pub")); err != nil {
		t.Fatal(err)
	}
	c.airlock("key", "generate", "approver")
	c.airlock("zone", "init", "other", "--zone", "pci-west", "--release-key", "release.pub")
	// An edit of other's trust.yaml that nobody commits (zone check).
	otherTrust, err := os.ReadFile(filepath.Join(c.dir, "other", "trust.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "other", "trust.yaml"), append(otherTrust, "auditors: []\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	c.airlock("build", "rel", "--key", "release.key", "--recipients-file", "other/zone.recipient", "-o", "west.airlock")
	if err := os.WriteFile(filepath.Join(c.dir, "SHA256SUMS"), []byte("0000  airlock\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The media copies of the zone's receipts, named by its host, as the
	// genesis record in its state directory is.
	genesis, _ := filepath.Glob(filepath.Join(c.dir, "zone", "state", "receipts", "receipt-pci-east-*-0000000001.dsse.json"))
	if len(genesis) != 1 {
		t.Fatalf("genesis records: %v", genesis)
	}
	prefix := strings.TrimSuffix(filepath.Base(genesis[0]), "0000000001.dsse.json")
	receipt := func(n int) string { return fmt.Sprintf("media/%s%010d.dsse.json", prefix, n) }

	imageRelease(t, filepath.Join(c.dir, "imgrel"), "pci-east")
	c.airlock("build", "imgrel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "-o", "img.airlock")

	seen := map[string][2]bool{} // command path → ran succeeding, failing
	check := func(tc jsonCase) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append(slices.Clone(tc.args), "--json")
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		if code != tc.code {
			t.Errorf("airlock %s: exit %d, want %d\n%s", strings.Join(args, " "), code, tc.code, stderr.String())
			return
		}
		cmd, _, err := newRootCommand().Find(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		schema := cmd.Annotations[schemaAnnotation]
		if err := schemas.Validate(schema, stdout.Bytes()); err != nil {
			t.Errorf("airlock %s: output does not follow %s: %v\n%s", strings.Join(args, " "), schema, err, stdout.String())
			return
		}
		var doc struct {
			Error *failure `json:"error"`
		}
		dec := json.NewDecoder(&stdout)
		if err := dec.Decode(&doc); err != nil || dec.More() {
			t.Errorf("airlock %s: want one JSON object on standard output (%v)", strings.Join(args, " "), err)
		}
		if (doc.Error != nil) != (code != 0) && cmd.Name() != "audit" {
			t.Errorf("airlock %s: exit %d, error object %+v", strings.Join(args, " "), code, doc.Error)
		}
		if doc.Error != nil && doc.Error.ExitCode != code {
			t.Errorf("airlock %s: error object says exit %d, exited %d", strings.Join(args, " "), doc.Error.ExitCode, code)
		}
		s := seen[cmd.CommandPath()]
		s[min(code, 1)] = true
		seen[cmd.CommandPath()] = s
	}
	for _, tc := range []jsonCase{
		{0, []string{"version"}},
		{2, []string{"version", "extra"}},
		{0, []string{"key", "generate", "ops", "--no-password"}},
		{1, []string{"key", "generate", "release"}}, // exists
		{0, []string{"key", "sign-blob", "SHA256SUMS", "--key", "approver.key"}},
		{1, []string{"key", "sign-blob", "SHA256SUMS", "--key", "missing.key"}},
		{0, []string{"key", "verify-blob", "SHA256SUMS", "--key", "approver.pub"}},
		{3, []string{"key", "verify-blob", "SHA256SUMS", "--key", "release.pub"}},
		{0, []string{"zone", "init", "third", "--zone", "pci-north", "--release-key", "release.pub"}},
		{2, []string{"zone", "init", "fourth", "--zone", "not a name", "--release-key", "release.pub"}},
		{0, []string{"zone", "host", "add", "third", "--host", "app-02", "--roles", "web"}},
		{0, []string{"zone", "init", "fifth", "--zone", "pci-south", "--release-key", "release.pub", "--host", "app-01", "--roles", "web,db", "--own-identity"}},
		{1, []string{"zone", "host", "add", "missing", "--host", "app-02"}},
		{0, []string{"zone", "commit-policy", "--trust", "zone/trust.yaml", "--operator", "Olga Operator", "--operator-key", "operator.key"}},
		{1, []string{"zone", "commit-policy", "--trust", "missing/trust.yaml", "--operator", "Schema Test"}},
		{0, []string{"zone", "check", "--trust", "zone/trust.yaml"}},
		{3, []string{"zone", "check", "--trust", "other/trust.yaml"}}, // edited, not committed
		{0, []string{"build", "rel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "-o", "again.airlock"}},
		{2, []string{"build", "rel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "--compression", "fastest-ever"}},
		{0, []string{"sign", "again.airlock", "--key", "approver.key", "--verify-key", "release.pub"}},
		{3, []string{"sign", "again.airlock", "--key", "ops.key", "--verify-key", "ops.pub"}},
		{0, []string{"inspect", "drop"}},
		{1, []string{"inspect", "missing.airlock"}},
		{0, []string{"verify", "drop", "--trust", "zone/trust.yaml"}},
		{3, []string{"verify", "drop", "--key", "zone/receipt.pub"}}, // a failed verification, with its checks
		{0, []string{"plan", "drop", "--trust", "zone/trust.yaml"}},
		{3, []string{"plan", "west.airlock", "--trust", "zone/trust.yaml"}}, // for another zone
		{0, []string{"apply", "drop", "--trust", "zone/trust.yaml", "--operator-key", "operator.key", "--receipt-out", "media"}},
		{0, []string{"apply", "--resume", "--trust", "zone/trust.yaml"}},
		{3, []string{"apply", "west.airlock", "--trust", "zone/trust.yaml", "--operator-key", "operator.key", "--receipt-out", "media"}}, // refused, with a receipt
		{2, []string{"apply", "drop", "--trust", "zone/trust.yaml", "--wait", "soon"}},
		{0, []string{"images", "export", "all", "--bundle", "img.airlock", "--trust", "zone/trust.yaml", "--to", "oci-out"}},
		{1, []string{"images", "export", "nope", "--bundle", "img.airlock", "--trust", "zone/trust.yaml", "--to", "oci-out2"}},
		{0, []string{"receipt", "verify", receipt(1), "--key", "zone/receipt.pub"}},
		{0, []string{"receipt", "verify", receipt(3), "--key", "zone/receipt.pub", "--bundle", "drop"}},
		{3, []string{"receipt", "verify", receipt(3), "--key", "other/receipt.pub"}},
		{0, []string{"receipt", "show", receipt(4)}},
		{1, []string{"receipt", "show", receipt(99)}},
		{0, []string{"status", "--trust", "zone/trust.yaml"}},
		{0, []string{"history", "--trust", "zone/trust.yaml"}},
		{0, []string{"audit", "media", "--key", "zone/receipt.pub"}},
		{3, []string{"audit", "media", "--key", "zone/receipt.pub", "--key", "other/receipt.pub"}}, // a key that signed nothing: the report, exit 3
		{2, []string{"audit", "media"}},
		{0, []string{"audit", "fifth/hosts", "--zone-register", "fifth/zone.yaml"}}, // a zone of named hosts
		{3, []string{"audit", "media", "--zone-register", "fifth/zone.yaml"}},       // its zone is not there
		{0, []string{"audit", "media", "--key", "zone/receipt.pub", "--state", "audit.state", "--state-key", "ops.key", "--first-audit"}},
	} {
		check(tc)
	}
	// Acknowledge a finding of that audit in its state.
	var env struct {
		Payload []byte `json:"payload"`
	}
	var st struct {
		Findings []struct {
			ID string `json:"id"`
		} `json:"findings"`
	}
	if data, err := os.ReadFile(filepath.Join(c.dir, "audit.state")); err != nil || json.Unmarshal(data, &env) != nil || json.Unmarshal(env.Payload, &st) != nil || len(st.Findings) == 0 {
		t.Fatalf("audit state: %v %+v", err, st)
	}
	check(jsonCase{0, []string{"audit", "ack", st.Findings[0].ID, "--state", "audit.state", "--state-key", "ops.key", "--note", "CHG-1: looked at"}})
	check(jsonCase{1, []string{"audit", "ack", "pci-east/none/1/gap", "--state", "audit.state", "--state-key", "ops.key", "--note", "CHG-1"}})
	// A receipt changed in the state directory: status and history print
	// what they can, and the error.
	p := filepath.Join(c.dir, "zone", "state", "receipts", filepath.Base(receiptOf(t, c.dir, 3)))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-30] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	check(jsonCase{3, []string{"status", "--trust", "zone/trust.yaml"}})
	check(jsonCase{3, []string{"history", "--trust", "zone/trust.yaml"}})

	visitCommands(newRootCommand(), func(cmd *cobra.Command) {
		if schema, ok := cmd.Annotations[schemaAnnotation]; ok {
			if s := seen[cmd.CommandPath()]; !s[0] || !s[1] {
				t.Errorf("%s --json (%s): ran succeeding %t, failing %t; want both", cmd.CommandPath(), schema, s[0], s[1])
			}
		}
	})

	// manifest.json itself, a file of the bundle.
	manifest, err := os.ReadFile(filepath.Join(c.dir, "drop", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.ValidateAt("bundle-statement.schema.json", "manifest", manifest); err != nil {
		t.Errorf("manifest.json: %v", err)
	}
}

// TestEveryResultHasJSON: every command that reports a result has --json,
// with a schema file that exists; only the commands that only group others
// (they take no argument of their own) and cobra's own (help, completion)
// have none. A command with work of its own and commands under it (audit,
// and audit ack) has --json.
func TestEveryResultHasJSON(t *testing.T) {
	visitCommands(newRootCommand(), func(cmd *cobra.Command) {
		schema, ok := cmd.Annotations[schemaAnnotation]
		groups := cmd.HasSubCommands() && cmd.ValidateArgs([]string{"x"}) != nil
		switch {
		case groups || cmd == cmd.Root() || cmd.Name() == "help" || cmd.Parent().Name() == "completion":
			if ok {
				t.Errorf("%s has --json but reports no result", cmd.CommandPath())
			}
		case !ok:
			t.Errorf("%s has no --json", cmd.CommandPath())
		default:
			if _, err := os.Stat(filepath.Join(schematest.Dir(), schema)); err != nil {
				t.Errorf("%s: %v", cmd.CommandPath(), err)
			}
		}
	})
}

// visitCommands calls fn for c and every command under it.
func visitCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		visitCommands(sub, fn)
	}
}

// TestSchemasNameEveryField: each schema names every JSON field of the Go
// type it describes — also those a run seldom prints (omitempty) — so that
// no output the code can make breaks its schema. This is what keeps the
// schemas of the formats (the bundle statement and manifest, the receipt
// statement) complete.
func TestSchemasNameEveryField(t *testing.T) {
	schemas := schematest.Schemas(t)
	for _, tc := range []struct {
		schema, fragment string
		typ              reflect.Type
	}{
		{"bundle-statement.schema.json", "", reflect.TypeFor[bundle.Statement]()},
		{"bundle-statement.schema.json", "/$defs/manifest", reflect.TypeFor[bundle.Manifest]()},
		{"receipt-statement.schema.json", "", reflect.TypeFor[receipt.Statement]()},
		{"audit-report.schema.json", "", reflect.TypeFor[audit.Report]()},
		{"audit-event.schema.json", "", reflect.TypeFor[audit.Event]()},
		{"audit-ack.schema.json", "/$defs/result", reflect.TypeFor[ackReport]()},
		{"error.schema.json", "/$defs/error", reflect.TypeFor[failure]()},
		{"version.schema.json", "/$defs/result", reflect.TypeFor[versionReport]()},
		{"build.schema.json", "/$defs/result", reflect.TypeFor[buildReport]()},
		{"sign.schema.json", "/$defs/result", reflect.TypeFor[signReport]()},
		{"images-export.schema.json", "/$defs/result", reflect.TypeFor[apply.ExportResult]()},
		{"inspect.schema.json", "/$defs/result", reflect.TypeFor[bundle.Inspection]()},
		{"verify-result.schema.json", "/$defs/result", reflect.TypeFor[verifyReport]()},
		{"plan.schema.json", "/$defs/result", reflect.TypeFor[apply.Plan]()},
		{"apply.schema.json", "/$defs/result", reflect.TypeFor[apply.Result]()},
		{"apply.schema.json", "/$defs/nothing", reflect.TypeFor[nothingToResume]()},
		{"zone-init.schema.json", "/$defs/result", reflect.TypeFor[zoneInitReport]()},
		{"zone-commit-policy.schema.json", "/$defs/result", reflect.TypeFor[apply.CommitResult]()},
		{"zone-check.schema.json", "/$defs/result", reflect.TypeFor[apply.DriftResult]()},
		{"key-generate.schema.json", "/$defs/result", reflect.TypeFor[keyReport]()},
		{"key-sign-blob.schema.json", "/$defs/result", reflect.TypeFor[signBlobReport]()},
		{"key-verify-blob.schema.json", "/$defs/result", reflect.TypeFor[verifyBlobReport]()},
		{"receipt-verify.schema.json", "/$defs/result", reflect.TypeFor[receipt.Statement]()},
		{"receipt-show.schema.json", "/$defs/result", reflect.TypeFor[shownReceipt]()},
		{"status.schema.json", "/$defs/result", reflect.TypeFor[apply.ZoneStatus]()},
		{"history.schema.json", "/$defs/result", reflect.TypeFor[historyReport]()},
	} {
		missing, err := schemas.Uncovered(tc.schema, tc.fragment, tc.typ)
		if err != nil {
			t.Errorf("%s: %v", tc.schema, err)
		}
		for _, m := range missing {
			t.Errorf("%s%s does not name %s (a field of %v)", tc.schema, tc.fragment, m, tc.typ)
		}
	}
}

// receiptOf is the media copy of receipt seq of zone pci-east, made by a
// zone whose trust.yaml names no host (its name carries the system's).
func receiptOf(t *testing.T, dir string, seq int) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "media", fmt.Sprintf("receipt-pci-east-*-%010d.dsse.json", seq)))
	if len(m) != 1 {
		t.Fatalf("media receipts of seq %d: %v", seq, m)
	}
	return m[0]
}
