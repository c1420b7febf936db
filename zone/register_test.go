package zone

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// TestFleetZone: zone init --host makes the first host's folder and the
// register; host add makes more, sharing the zone identity or with their
// own; the register, the recipients file and each host's folder say the
// same thing, and each host starts its own chain.
func TestFleetZone(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	op := writeKey(t, dir, "op.pub")
	zdir := filepath.Join(dir, "zone")
	first, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}, Host: "app-01", Roles: []string{"web"},
		Record: RecordOptions{Operator: "Alice Roe", Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	if first.HostDir != filepath.Join(zdir, "hosts", "app-01") || first.RecipientCount != 1 {
		t.Fatalf("created %+v", first)
	}
	// The zone's policy changes before more hosts come: they copy it.
	doc, _ := os.ReadFile(first.Trust)
	opRel, _ := filepath.Rel(first.HostDir, op)
	doc = append(doc, "operators:\n  - { path: "+filepath.ToSlash(opRel)+", name: Olga Operator }\nvariables:\n  InstallRoot: /srv/app\napplications:\n  shop: { roots: [/srv/shop] }\n"...)
	if err := os.WriteFile(first.Trust, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := AddHost(HostOptions{Dir: zdir, Host: "app-02", Roles: []string{"web", "batch"}})
	if err != nil {
		t.Fatal(err)
	}
	own, err := AddHost(HostOptions{Dir: zdir, Host: "db-01", Roles: []string{"db"}, OwnIdentity: true})
	if err != nil {
		t.Fatal(err)
	}
	if own.RecipientCount != 2 || !own.OwnIdentity || own.Recipient == first.Recipient || second.Recipient != first.Recipient {
		t.Fatalf("recipients: first %s, second %s, own %s (%d in the file)", first.Recipient, second.Recipient, own.Recipient, own.RecipientCount)
	}
	reg, err := ReadRegister(filepath.Join(zdir, RegisterFile))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range reg.Hosts {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"app-01", "app-02", "db-01"}) || len(reg.Keys()) != 3 {
		t.Fatalf("register hosts %v, %d keys", names, len(reg.Keys()))
	}
	zoneID, _ := os.ReadFile(filepath.Join(zdir, ZoneIdentityFile))
	for _, c := range []*Created{first, second, own} {
		tr, err := Load(c.Trust)
		if err != nil {
			t.Fatal(err)
		}
		h := reg.Host(c.Host)
		pub, _ := keys.LoadPublic(c.ReceiptPub)
		if tr.Policy.Host != c.Host || !slices.Equal(tr.Policy.HostRoles, slices.Sorted(slices.Values(h.Roles))) || reg.HostOfKey(pub.ID()) != c.Host {
			t.Errorf("%s: trust host %q roles %v; register %+v", c.Host, tr.Policy.Host, tr.Policy.HostRoles, h)
		}
		if want := filepath.Join(c.HostDir, "state", "receipts", receipt.FileName("pci-east", c.Host, 1)); c.Genesis != want {
			t.Errorf("%s: genesis %s, want %s", c.Host, c.Genesis, want)
		}
		if g, err := receipt.OpenChain(tr.ReceiptsDir(), "pci-east", c.Host, pub).Head(); err != nil || g == nil || g.Receipt.Predicate().Event != receipt.EventGenesis ||
			(c.Host != "app-01" && g.Receipt.Predicate().Policy.Digest() != tr.Record().Digest()) { // app-01's policy changed since
			t.Errorf("%s: genesis %+v %v", c.Host, g, err)
		}
		for _, secret := range []string{ReceiptKeyFile, tr.Identities[0]} {
			st, err := os.Stat(filepath.Join(c.HostDir, filepath.Base(secret)))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s: %v", c.Host, secret, err)
			}
		}
		id, _ := os.ReadFile(tr.Identities[0])
		if shared := bytes.Equal(id, zoneID); shared == c.OwnIdentity {
			t.Errorf("%s: identity shared %v, own %v", c.Host, shared, c.OwnIdentity)
		}
		if c.Host != "app-01" && (len(tr.Policy.Operators) != 1 || tr.Policy.NameOf(tr.Policy.Operators[0]) != "Olga Operator" || tr.Variables["InstallRoot"] != (Value{Literal: "/srv/app"}) ||
			tr.Application("shop") == nil || !slices.Equal(tr.Application("shop").Roots, []string{"/srv/shop"})) {
			t.Errorf("%s: the zone's policy was not copied: %+v %v", c.Host, tr.Policy, tr.Variables)
		}
	}
	recipients, _ := os.ReadFile(filepath.Join(zdir, RecipientsFile))
	if !strings.Contains(string(recipients), first.Recipient+"\n") || !strings.Contains(string(recipients), own.Recipient+"\n") {
		t.Errorf("recipients file:\n%s", recipients)
	}
	if _, err := AddHost(HostOptions{Dir: zdir, Host: "app-02"}); err == nil || !strings.Contains(err.Error(), "already in") {
		t.Errorf("adding app-02 again: %v", err)
	}
	if _, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}, Host: "x"}); err == nil {
		t.Error("init over a zone register succeeded")
	}
}

// TestAddHostToAZoneWithoutNamedHosts: host add on a zone made without
// --host makes its register; the zone's own host is registered when
// trust.yaml names it, and a note says so when it does not.
func TestAddHostToAZoneWithoutNamedHosts(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	zdir := filepath.Join(dir, "zone")
	if _, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}}); err != nil {
		t.Fatal(err)
	}
	c, err := AddHost(HostOptions{Dir: zdir, Host: "app-02"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "names no host") {
		t.Errorf("notes %q", c.Notes)
	}
	reg, err := ReadRegister(c.Register)
	if err != nil || len(reg.Hosts) != 1 {
		t.Fatalf("register %+v %v", reg, err)
	}
	zoneID, _ := os.ReadFile(filepath.Join(zdir, ZoneIdentityFile))
	hostID, _ := os.ReadFile(filepath.Join(c.HostDir, ZoneIdentityFile))
	if !bytes.Equal(zoneID, hostID) {
		t.Error("the new host does not share the zone identity")
	}
}

func registerYAML(t *testing.T, hosts string) string {
	t.Helper()
	return "apiVersion: airlock/v1\nzone: z\nhosts:\n" + hosts
}

func pemKey(t *testing.T) string {
	t.Helper()
	_, pub, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n        ") + "\n"
}

// TestParseRegisterErrors: the register is decoded strictly and checked.
func TestParseRegisterErrors(t *testing.T) {
	k1, k2 := pemKey(t), pemKey(t)
	host := func(name, rest, key string) string {
		return "  - name: " + name + "\n" + rest + "    receiptKeys:\n      - |\n        " + key
	}
	good := host("app-01", "    identity: zone\n", k1)
	if _, err := ParseRegister([]byte(registerYAML(t, good))); err != nil {
		t.Fatalf("good register: %v\n%s", err, registerYAML(t, good))
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", registerYAML(t, good) + "colour: red\n", "field colour not found"},
		{"api version", strings.Replace(registerYAML(t, good), "airlock/v1", "airlock/v2", 1), "apiVersion"},
		{"no hosts", "apiVersion: airlock/v1\nzone: z\nhosts: []\n", "lists no host"},
		{"bad zone", strings.Replace(registerYAML(t, good), "zone: z", "zone: Z Z", 1), "zone"},
		{"bad host", registerYAML(t, host("App 1", "    identity: zone\n", k1)), "want a host name"},
		{"twice", registerYAML(t, good+host("app-01", "    identity: zone\n", k2)), "listed twice"},
		{"shared key", registerYAML(t, good+host("app-02", "    identity: zone\n", k1)), "already host app-01's"},
		{"bad role", registerYAML(t, host("app-01", "    roles: [Web]\n    identity: zone\n", k1)), "role"},
		{"identity", registerYAML(t, host("app-01", "    identity: mine\n", k1)), "identity"},
		{"own without recipient", registerYAML(t, host("app-01", "    identity: own\n", k1)), "recipient"},
		{"zone with recipient", registerYAML(t, host("app-01", "    identity: zone\n    recipient: age1x\n", k1)), "recipient"},
		{"no key", "apiVersion: airlock/v1\nzone: z\nhosts:\n  - name: a\n    identity: zone\n    receiptKeys: []\n", "receiptKeys"},
		{"bad key", registerYAML(t, host("app-01", "    identity: zone\n", "not a key\n")), "receiptKeys[0]"},
		{"two documents", registerYAML(t, good) + "---\napiVersion: airlock/v1\n", "more than one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRegister([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseRegister(bytes.Repeat([]byte("#"), MaxRegisterSize+1)); err == nil {
		t.Error("an oversized register parsed")
	}
}
