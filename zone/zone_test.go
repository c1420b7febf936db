package zone

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/keys"
)

var update = flag.Bool("update", false, "rewrite golden files")

func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	_, pub, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInitLoad: a zone made by Init loads as written, with both roles,
// absolute paths and the secret files private.
func TestInitLoad(t *testing.T) {
	dir := t.TempDir()
	rel, app := writeKey(t, dir, "release.pub"), writeKey(t, dir, "approve.pub")
	zdir := filepath.Join(dir, "zone")
	c, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}, ApproveKeys: []string{app}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Recipient, "age1") {
		t.Errorf("recipient %q", c.Recipient)
	}
	got, err := os.ReadFile(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "trust.yaml.golden")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("trust.yaml:\n%s\nwant:\n%s", got, want)
	}
	tr, err := Load(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Policy.Zone != "pci-east" || len(tr.Policy.Roles) != 2 || tr.Policy.Roles[0].Name != RoleRelease || tr.Policy.Roles[1].Name != RoleApprove {
		t.Errorf("policy %+v", tr.Policy)
	}
	for _, p := range []string{tr.ReceiptKey, tr.ReceiptPub, tr.StateDir, tr.Identities[0]} {
		if !filepath.IsAbs(p) || !strings.HasPrefix(p, zdir) {
			t.Errorf("path %q is not absolute inside the zone", p)
		}
	}
	for _, secret := range []string{ZoneIdentityFile, ReceiptKeyFile} {
		st, err := os.Stat(filepath.Join(zdir, secret))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v", secret, err, st.Mode())
		}
	}
	if _, err := Init(InitOptions{Dir: zdir, Zone: "pci-east", ReleaseKeys: []string{rel}}); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Errorf("second Init: %v", err)
	}
}

// TestInitOneKeyOneRole: zone init refuses a key given for two roles (the
// same file, or a copy of it) or twice for one role, and writes nothing.
func TestInitOneKeyOneRole(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	data, _ := os.ReadFile(rel)
	copyOf := filepath.Join(dir, "copy.pub")
	os.WriteFile(copyOf, data, 0o644)
	for name, o := range map[string]InitOptions{
		"same file in two roles":    {ReleaseKeys: []string{rel}, ApproveKeys: []string{rel}},
		"a copy in the other role":  {ReleaseKeys: []string{rel}, ApproveKeys: []string{copyOf}},
		"twice in the release role": {ReleaseKeys: []string{rel, copyOf}},
	} {
		t.Run(name, func(t *testing.T) {
			o.Dir, o.Zone = filepath.Join(t.TempDir(), "zone"), "pci-east"
			if _, err := Init(o); err == nil || !strings.Contains(err.Error(), "twice") && !strings.Contains(err.Error(), "two roles") {
				t.Fatalf("Init = %v, want a refusal", err)
			}
			if _, err := os.Stat(o.Dir); !os.IsNotExist(err) {
				t.Fatal("Init wrote the zone directory before refusing")
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k.pub")
	writeKey(t, dir, "k2.pub")
	tests := []struct{ name, yaml, want string }{
		{"shared key", "roles:\n  release: { threshold: 1, keys: [k.pub] }\n  approve: { threshold: 1, keys: [k.pub] }\nstate: s\n", "already listed for role release"},
		{"no release role", "roles:\n  approve: { threshold: 1, keys: [k.pub] }\nstate: s\n", "the release role is required"},
		{"unknown role", "roles:\n  release: { threshold: 1, keys: [k.pub] }\n  admin: { threshold: 1, keys: [k2.pub] }\nstate: s\n", `unknown role "admin"`},
		{"threshold too high", "roles:\n  release: { threshold: 2, keys: [k.pub] }\nstate: s\n", "threshold 2 with 1 keys"},
		{"no state", "roles:\n  release: { threshold: 1, keys: [k.pub] }\n", "no state directory"},
		{"unknown key", "roles:\n  release: { threshold: 1, keys: [k.pub] }\nstate: s\nstat: x\n", "field stat not found"},
		{"missing key file", "roles:\n  release: { threshold: 1, keys: [nope.pub] }\nstate: s\n", "nope.pub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "trust.yaml")
			os.WriteFile(p, []byte("apiVersion: airlock/v1\nzone: z\n"+tc.yaml), 0o644)
			_, err := Load(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	for _, doc := range []string{"apiVersion: airlock/v2\nzone: z\nstate: s\n", "apiVersion: airlock/v1\nzone: Bad Zone\nstate: s\n"} {
		if _, err := ParseDocument([]byte(doc)); err == nil {
			t.Errorf("ParseDocument(%q) accepted", doc)
		}
	}
}
