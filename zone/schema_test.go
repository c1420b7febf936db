package zone

import (
	"os"
	"path/filepath"
	"testing"

	"airlock.dev/airlock/internal/schematest"
)

// trustSchema is the JSON Schema of trust.yaml.
const trustSchema = "trust.schema.json"

// TestTrustSchema: trust.yaml as zone init writes it, and one with every
// setting, load and follow doc/schemas/trust.schema.json; documents that
// break its rules are refused by both the loader and the schema (the
// loader checks more: key files, separation of duties, thresholds
// against the keys).
func TestTrustSchema(t *testing.T) {
	schemas := schematest.Schemas(t)
	dir := t.TempDir()
	rel, app := writeKey(t, dir, "release.pub"), writeKey(t, dir, "approve.pub")
	writeKey(t, dir, "release2.pub")
	writeKey(t, dir, "operator.pub")
	c, err := Init(InitOptions{Dir: filepath.Join(dir, "zone"), Zone: "pci-east", ReleaseKeys: []string{rel}, ApproveKeys: []string{app}, PostQuantum: true})
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	const head = "apiVersion: airlock/v1\nzone: pci-east\n"
	const roles = "roles:\n  release: { threshold: 1, keys: [release.pub] }\n"
	full := head + `host: App-01
roles:
  release: { threshold: 2, keys: [release.pub, { path: release2.pub, name: Rae Release }] }
  approve:
    threshold: 1
    keys:
      - { path: approve.pub, name: Ann Approver }
operators:
  - { path: operator.pub, name: Olga Operator }
requireOperatorSignature: true
identities: [zone.agekey, other.agekey]
receipts: { key: "pkcs11:token=zone;object=receipts", publicKey: release.pub }
state: /var/lib/airlock/state
variables: { InstallRoot: /srv/payments-api, Port: 8080, Debug: false, DbPassword: { fromFile: secrets/db } }
applications:
  payments-api:
    roots: [/srv/payments-api, /var/lib/payments-api]
    variables: { InstallRoot: /srv/payments-api, DbPassword: { fromFile: secrets/payments-db } }
  billing: { roots: [/srv/billing] }
auditors: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
`
	load := func(doc string) error {
		p := filepath.Join(dir, "trust.yaml")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		return err
	}
	for name, doc := range map[string]string{"zone init": string(written), "every setting": full, "least": head + roles + "state: s\n"} {
		if name != "zone init" {
			if err := load(doc); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if err := schemas.ValidateYAML(trustSchema, []byte(doc)); err != nil {
			t.Errorf("%s: the loader accepts it, the schema does not: %v\n%s", name, err, doc)
		}
	}
	for name, doc := range map[string]string{
		"unknown key":               head + roles + "state: s\nstat: x\n",
		"api version":               "apiVersion: airlock/v2\nzone: pci-east\n" + roles + "state: s\n",
		"zone name":                 "apiVersion: airlock/v1\nzone: PCI East\n" + roles + "state: s\n",
		"no state":                  head + roles,
		"no release role":           head + "roles:\n  approve: { threshold: 1, keys: [approve.pub] }\nstate: s\n",
		"unknown role":              head + roles + "  admin: { threshold: 1, keys: [approve.pub] }\nstate: s\n",
		"operator without name":     head + roles + "operators: [operator.pub]\nstate: s\n",
		"key entry with an owner":   head + "roles:\n  release: { threshold: 1, keys: [{ path: release.pub, owner: x }] }\nstate: s\n",
		"receipts setting":          head + roles + "receipts: { key: r.key, pub: r.pub }\nstate: s\n",
		"host name":                 head + "host: app 01\n" + roles + "state: s\n",
		"value file and literal":    head + roles + "state: s\nvariables: { Db: { fromFile: db, value: x } }\n",
		"value file key":            head + roles + "state: s\nvariables: { Db: { fromfile: db } }\n",
		"value file empty":          head + roles + "state: s\nvariables: { Db: { fromFile: \"\" } }\n",
		"value list":                head + roles + "state: s\nvariables: { Db: [a] }\n",
		"application without roots": head + roles + "state: s\napplications: { app: { variables: { A: b } } }\n",
		"application roots empty":   head + roles + "state: s\napplications: { app: { roots: [] } }\n",
		"application name":          head + roles + "state: s\napplications: { Pay API: { roots: [/srv/app] } }\n",
		"application setting":       head + roles + "state: s\napplications: { app: { roots: [/srv/app], keep: 3 } }\n",
	} {
		if err := load(doc); err == nil {
			t.Errorf("%s: the loader accepts it", name)
		}
		if err := schemas.ValidateYAML(trustSchema, []byte(doc)); err == nil {
			t.Errorf("%s: the loader refuses it, the schema accepts it:\n%s", name, doc)
		}
	}
}

// TestHostTrustSchema: the trust.yaml of every host that zone init
// --host and zone host add write, with host roles and without, follows
// doc/schemas/trust.schema.json.
func TestHostTrustSchema(t *testing.T) {
	schemas := schematest.Schemas(t)
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	zdir := filepath.Join(dir, "zone")
	first, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}, Host: "app-01", Roles: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	written := []string{first.Trust}
	for _, h := range []HostOptions{
		{Dir: zdir, Host: "app-02", Roles: []string{"web", "batch"}},
		{Dir: zdir, Host: "db-01", Roles: []string{"db"}, OwnIdentity: true},
		{Dir: zdir, Host: "spare-01"},
	} {
		c, err := AddHost(h)
		if err != nil {
			t.Fatalf("host %s: %v", h.Host, err)
		}
		written = append(written, c.Trust)
	}
	// A zone made without named hosts, given hosts later.
	plain := filepath.Join(dir, "plain")
	if _, err := Init(InitOptions{Dir: plain, Zone: "pci-west", ReleaseKeys: []string{rel}}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []HostOptions{{Dir: plain, Host: "web-01", Roles: []string{"web"}}, {Dir: plain, Host: "web-02"}} {
		c, err := AddHost(h)
		if err != nil {
			t.Fatalf("host %s: %v", h.Host, err)
		}
		written = append(written, c.Trust)
	}
	for _, p := range written {
		doc, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if err := schemas.ValidateYAML(trustSchema, doc); err != nil {
			t.Errorf("%s: the writer wrote it, the schema refuses it: %v\n%s", p, err, doc)
		}
	}
}
