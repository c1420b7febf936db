package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"airlock.dev/airlock/internal/schematest"
)

// TestJSONOutputsMatchSchemas runs every command that prints JSON on a
// real bundle, zone and receipt, and validates what it prints against its
// schema in doc/schemas. (The audit's outputs are validated in its own
// package.)
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
	if _, err := fmt.Fprintf(f, "variables:\n  InstallRoot: %s\n  Port: \"%d\"\n", filepath.Join(c.dir, "srv"), port); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c.airlock("zone", "commit-policy", "--trust", "zone/trust.yaml", "--operator", "Schema Test")
	c.airlock("apply", "drop", "--trust", "zone/trust.yaml", "--receipt-out", "media")
	for _, tc := range []struct {
		schema string
		args   []string
	}{
		{"inspect.schema.json", []string{"inspect", "drop", "--json"}},
		{"verify-result.schema.json", []string{"verify", "drop", "--trust", "zone/trust.yaml", "--json"}},
		{"verify-result.schema.json", []string{"verify", "drop", "--key", "zone/receipt.pub", "--json"}}, // a failed verification
		{"plan.schema.json", []string{"plan", "drop", "--trust", "zone/trust.yaml", "--json"}},
		{"receipt-statement.schema.json", []string{"receipt", "verify", receiptOf(t, c.dir, 1), "--key", "zone/receipt.pub", "--json"}},
		{"receipt-statement.schema.json", []string{"receipt", "verify", receiptOf(t, c.dir, 2), "--key", "zone/receipt.pub", "--json"}},
		{"receipt-statement.schema.json", []string{"receipt", "verify", receiptOf(t, c.dir, 3), "--key", "zone/receipt.pub", "--json"}},
	} {
		out := c.output(tc.args...)
		if err := schemas.Validate(tc.schema, []byte(out)); err != nil {
			t.Errorf("airlock %v: %v\n%s", tc.args, err, out)
		}
	}
	// manifest.json itself, a file of the bundle.
	manifest, err := os.ReadFile(filepath.Join(c.dir, "drop", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := schemas.ValidateAt("bundle-statement.schema.json", "manifest", manifest); err != nil {
		t.Errorf("manifest.json: %v", err)
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
