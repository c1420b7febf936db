package zone

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/receipt"
)

// TestApplications: trust.yaml's applications load with their roots
// cleaned and their values' files resolved, are part of the recorded
// policy, and are refused when malformed.
func TestApplications(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.pub")
	head := "apiVersion: airlock/v1\nzone: z\nhost: h1\nroles:\n  release: { threshold: 1, keys: [a.pub] }\nstate: s\n"
	p := filepath.Join(dir, "trust.yaml")
	os.WriteFile(p, []byte(head+`variables: { LogLevel: info }
applications:
  payments-api:
    roots: [/srv/payments-api/, /opt/pay/../payments]
    variables: { InstallRoot: /srv/payments-api, DbPassword: { fromFile: secrets/db } }
  billing:
    roots: [/srv/billing]
`), 0o644)
	tr, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tr.Policy.Applications, []string{"billing", "payments-api"}) {
		t.Errorf("policy applications %q", tr.Policy.Applications)
	}
	app := tr.Application("payments-api")
	if app == nil || !slices.Equal(app.Roots, []string{"/opt/payments", "/srv/payments-api"}) ||
		app.Variables["DbPassword"].FromFile != filepath.Join(dir, "secrets/db") || app.Variables["InstallRoot"].Literal != "/srv/payments-api" {
		t.Fatalf("application %+v", app)
	}
	if tr.Application("reports") != nil {
		t.Error("an application trust.yaml does not list")
	}
	want := []receipt.PolicyApplication{{Name: "billing", Roots: []string{"/srv/billing"}}, {Name: "payments-api", Roots: []string{"/opt/payments", "/srv/payments-api"}}}
	if got := tr.Record().Applications; len(got) != 2 || got[0].Name != want[0].Name || !slices.Equal(got[1].Roots, want[1].Roots) {
		t.Errorf("record %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ target, root string }{
		{"/srv/payments-api", "/srv/payments-api"}, {"/srv/payments-api/blue", "/srv/payments-api"}, {"/opt/payments/x/y", "/opt/payments"},
		{"/srv/payments-api-old", ""}, {"/srv", ""}, {"/srv/billing", ""},
	} {
		if root, ok := app.Within(tc.target); root != tc.root || ok != (tc.root != "") {
			t.Errorf("Within(%s) = %q %v, want %q", tc.target, root, ok, tc.root)
		}
	}
	// A zone without applications records none: its policy digest is the
	// one it had before applications existed.
	os.WriteFile(p, []byte(head), 0o644)
	if tr, err := Load(p); err != nil || tr.Record().Applications != nil || tr.Policy.Applications != nil {
		t.Fatalf("no applications: %v %+v", err, tr.Record())
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"no roots", "applications: { app: { variables: { A: b } } }\n", "at least one"},
		{"relative root", "applications: { app: { roots: [srv/app] } }\n", "not an absolute path"},
		{"root twice", "applications: { app: { roots: [/srv/app, /srv/app/] } }\n", "listed twice"},
		{"control character", "applications: { app: { roots: [\"/srv/a\\tb\"] } }\n", "no control characters"},
		{"bad name", "applications: { Pay_API!: { roots: [/srv/app] } }\n", "want a release name"},
		{"unknown field", "applications: { app: { roots: [/srv/app], root: /x } }\n", "field root not found"},
		{"bad value", "applications: { app: { roots: [/srv/app], variables: { A: [1] } } }\n", "a value is a scalar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(p, []byte(head+tc.yaml), 0o644)
			if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
