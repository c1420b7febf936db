package zone

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
)

// TestInitGenesis: zone init writes the genesis record, signed by the
// receipt key, recording the policy that trust.yaml loads as.
func TestInitGenesis(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	c, err := Init(InitOptions{Dir: filepath.Join(dir, "zone"), Zone: "pci-east", ReleaseKeys: []string{rel},
		Record: RecordOptions{Operator: "Alice Roe", Note: "CHG-1", Version: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Load(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if c.Genesis != filepath.Join(tr.StateDir, "receipts", receipt.FileName("pci-east", tr.Policy.Host, 1)) {
		t.Fatalf("genesis at %s", c.Genesis)
	}
	st, err := os.Stat(c.Genesis)
	if err != nil || st.Mode().Perm() != receipt.FileMode {
		t.Fatalf("genesis file: %v %v", err, st.Mode())
	}
	data, _ := os.ReadFile(c.Genesis)
	pub, err := keys.LoadPublic(tr.ReceiptPub)
	if err != nil {
		t.Fatal(err)
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Predicate()
	if p.Event != receipt.EventGenesis || p.Seq != 1 || p.Outcome.Result != receipt.Recorded || p.Operator.Name != "Alice Roe" || p.Operator.Note != "CHG-1" {
		t.Fatalf("genesis %+v", p)
	}
	if !p.Policy.Same(tr.Record()) || p.Policy.SHA256 != tr.SHA256 {
		t.Errorf("genesis policy %+v differs from trust.yaml's %+v", p.Policy, tr.Record())
	}
	if p.Storage == nil || p.Storage.DirMode != "0700" || p.Storage.FileMode != "0640" {
		t.Errorf("storage %+v", p.Storage)
	}
}

func TestKeyEntries(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.pub")
	writeKey(t, dir, "b.pub")
	writeKey(t, dir, "op.pub")
	good := `apiVersion: airlock/v1
zone: z
host: h1
roles:
  release: { threshold: 1, keys: [a.pub] }
  approve:
    threshold: 1
    keys:
      - { path: b.pub, name: Bob Approver }
operators:
  - { path: op.pub, name: Olga Operator }
requireOperatorSignature: true
state: s
`
	p := filepath.Join(dir, "trust.yaml")
	os.WriteFile(p, []byte(good), 0o644)
	tr, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	rec := tr.Record()
	if len(rec.Roles) != 2 || rec.Roles[1].Keys[0].Name != "Bob Approver" || rec.Roles[0].Keys[0].Name != "" ||
		len(rec.Operators) != 1 || rec.Operators[0].Name != "Olga Operator" || !rec.RequireOperatorSignature || rec.Host != "h1" {
		t.Fatalf("record %+v", rec)
	}
	doc, err := ParseDocument([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	out, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "name: Bob Approver") || !strings.Contains(string(out), "- a.pub") {
		t.Errorf("marshalled:\n%s", out)
	}
	back, err := ParseDocument(out)
	if err != nil || !slices.Equal(back.Roles["approve"].Keys, doc.Roles["approve"].Keys) {
		t.Errorf("round trip: %v %+v", err, back)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key field", "roles:\n  release: { threshold: 1, keys: [{path: a.pub, nmae: X}] }\nstate: s\n", "field nmae not found"},
		{"no path", "roles:\n  release: { threshold: 1, keys: [{name: X}] }\nstate: s\n", "without a path"},
		{"list as key", "roles:\n  release: { threshold: 1, keys: [[a.pub]] }\nstate: s\n", "a path or a mapping"},
		{"control character", "roles:\n  release: { threshold: 1, keys: [{path: a.pub, name: \"A\\tB\"}] }\nstate: s\n", "no control characters"},
		{"operator without name", "roles:\n  release: { threshold: 1, keys: [a.pub] }\noperators: [op.pub]\nstate: s\n", "has no name"},
		{"operator is a release key", "roles:\n  release: { threshold: 1, keys: [a.pub] }\noperators: [{path: a.pub, name: A}]\nstate: s\n", "already listed for role release"},
		{"required without operators", "roles:\n  release: { threshold: 1, keys: [a.pub] }\nrequireOperatorSignature: true\nstate: s\n", "needs at least one key under operators"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(p, []byte("apiVersion: airlock/v1\nzone: z\n"+tc.yaml), 0o644)
			if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	k := func(id, name string) receipt.PolicyKey { return receipt.PolicyKey{KeyID: id, Name: name} }
	base := func() *receipt.Policy {
		return &receipt.Policy{SHA256: "s1", Zone: "z", Roles: []receipt.PolicyRole{
			{Name: "release", Threshold: 1, Keys: []receipt.PolicyKey{k("r1", "")}},
			{Name: "approve", Threshold: 2, Keys: []receipt.PolicyKey{k("a1", "Ann"), k("a2", "Al")}},
		}, Operators: []receipt.PolicyKey{k("o1", "Olga")}, RequireOperatorSignature: true}
	}
	tests := []struct {
		name    string
		edit    func(p *receipt.Policy)
		kinds   []string
		weakens bool
	}{
		{"approve removed", func(p *receipt.Policy) { p.Roles = p.Roles[:1] }, []string{DiffRoleRemoved}, true},
		{"threshold lowered", func(p *receipt.Policy) { p.Roles[1].Threshold = 1 }, []string{DiffThresholdLowered}, true},
		{"threshold raised", func(p *receipt.Policy) {
			p.Roles[0].Threshold = 2
			p.Roles[0].Keys = append(p.Roles[0].Keys, k("r2", ""))
		},
			[]string{DiffThresholdRaised, DiffKeyAdded}, true},
		{"key removed", func(p *receipt.Policy) { p.Roles[1].Keys = p.Roles[1].Keys[:1]; p.Roles[1].Threshold = 1 },
			[]string{DiffThresholdLowered, DiffKeyRemoved}, true},
		{"key renamed", func(p *receipt.Policy) { p.Roles[1].Keys[0].Name = "Anne" }, []string{DiffKeyRenamed}, false},
		{"operator added", func(p *receipt.Policy) { p.Operators = append(p.Operators, k("o2", "Oscar")) }, []string{DiffOperatorAdded}, true},
		{"operator removed", func(p *receipt.Policy) { p.Operators = nil; p.RequireOperatorSignature = false },
			[]string{DiffOperatorRemoved, DiffOperatorOptional}, true},
		{"host changed", func(p *receipt.Policy) { p.Host = "other" }, []string{DiffHost}, true},
		{"settings only", func(p *receipt.Policy) { p.SHA256 = "s2" }, []string{DiffOtherSettings}, false},
		{"first applications", func(p *receipt.Policy) { p.Applications = apps() }, []string{DiffApplicationFirst, DiffApplicationFirst}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := base()
			tc.edit(next)
			c := Diff(base(), next)
			var kinds []string
			for _, d := range c.Changes {
				kinds = append(kinds, d.Kind)
			}
			if !slices.Equal(kinds, tc.kinds) || c.Weakens != tc.weakens || c.PreviousSHA256 != "s1" {
				t.Errorf("changes %v weakens %v, want %v %v", kinds, c.Weakens, tc.kinds, tc.weakens)
			}
			// The reverse of a weakening that only removes is a strengthening.
			back := Diff(next, base())
			if tc.name == "approve removed" && (back.Weakens || back.Changes[0].Kind != DiffRoleAdded) {
				t.Errorf("reverse %+v", back)
			}
		})
	}
	// Between zones that list applications: an application or a root
	// added lets a release deploy where it could not (weakens).
	for _, tc := range []struct {
		name    string
		edit    func(p *receipt.Policy)
		kinds   []string
		weakens bool
	}{
		{"application added", func(p *receipt.Policy) {
			p.Applications = append(p.Applications, receipt.PolicyApplication{Name: "reports", Roots: []string{"/srv/reports"}})
		}, []string{DiffApplicationAdded}, true},
		{"application removed", func(p *receipt.Policy) { p.Applications = p.Applications[1:] }, []string{DiffApplicationRemoved}, false},
		{"root added", func(p *receipt.Policy) {
			p.Applications[1].Roots = append(p.Applications[1].Roots, "/opt/payments-api")
		},
			[]string{DiffApplicationRootAdded}, true},
		{"root removed", func(p *receipt.Policy) { p.Applications[0].Roots = p.Applications[0].Roots[:1] }, []string{DiffApplicationRootRemoved}, false},
		{"root moved up", func(p *receipt.Policy) { p.Applications[1].Roots = []string{"/srv"} },
			[]string{DiffApplicationRootAdded, DiffApplicationRootRemoved}, true},
		{"applications unlisted", func(p *receipt.Policy) { p.Applications = nil }, []string{DiffApplicationsUnlisted}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := base(), base()
			prev.Applications, next.Applications = apps(), apps()
			tc.edit(next)
			c := Diff(prev, next)
			var kinds []string
			for _, d := range c.Changes {
				kinds = append(kinds, d.Kind)
			}
			if !slices.Equal(kinds, tc.kinds) || c.Weakens != tc.weakens {
				t.Errorf("changes %v weakens %v, want %v %v", kinds, c.Weakens, tc.kinds, tc.weakens)
			}
		})
	}
	if c := Diff(nil, base()); c.Weakens || len(c.Changes) != 1 || c.Changes[0].Kind != DiffFirst || c.PreviousSHA256 != "" {
		t.Errorf("first record %+v", c)
	}
	for _, d := range DiffKinds {
		if d.Weakens != weakens(d.Kind) {
			t.Errorf("%s", d.Kind)
		}
	}
}

func TestControlRecordOperatorKey(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	c, err := Init(InitOptions{Dir: filepath.Join(dir, "zone"), Zone: "z", ReleaseKeys: []string{rel}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Load(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	priv, _, _ := keys.Generate(nil)
	op, _ := keys.ParsePrivate(priv, nil)
	signer, err := keys.LoadPrivate(tr.ReceiptKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := receipt.OpenChain(tr.ReceiptsDir(), tr.Policy.Zone, tr.Policy.Host, signer.Public())
	h, err := ch.Head()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ControlRecord(ch, h, RecordOptions{OperatorKey: op}); err == nil || !strings.Contains(err.Error(), "not listed under operators") {
		t.Fatalf("unknown operator key: %v", err)
	}
}

// TestReceiptKeyRotation: a new receipt key is a recorded, weakening
// change of the policy.
func TestReceiptKeyRotation(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	c, err := Init(InitOptions{Dir: filepath.Join(dir, "zone"), Zone: "z", ReleaseKeys: []string{rel}})
	if err != nil {
		t.Fatal(err)
	}
	before, err := Load(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	if before.Record().ReceiptKey == "" {
		t.Fatal("the record names no receipt key")
	}
	writeKey(t, filepath.Join(dir, "zone"), ReceiptPubFile+".new")
	if err := os.Rename(filepath.Join(dir, "zone", ReceiptPubFile+".new"), filepath.Join(dir, "zone", ReceiptPubFile)); err != nil {
		t.Fatal(err)
	}
	after, err := Load(c.Trust)
	if err != nil {
		t.Fatal(err)
	}
	d := Diff(before.Record(), after.Record())
	if !d.Weakens || len(d.Changes) != 1 || d.Changes[0].Kind != DiffReceiptKey {
		t.Errorf("diff %+v", d)
	}
}

func apps() []receipt.PolicyApplication {
	return []receipt.PolicyApplication{
		{Name: "billing", Roots: []string{"/srv/billing", "/var/lib/billing"}},
		{Name: "payments-api", Roots: []string{"/srv/payments-api"}},
	}
}
