//go:build unix

package apply

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// testZone is a test zone: a fixture (keys, identity, builder), a trust policy,
// a deploy root and a marker file that steps append to.
type testZone struct {
	t      *testing.T
	f      *bundletest.Fixture
	dir    string
	trust  *zone.Trust
	root   string // deploy target
	marker string // steps append their names here
	out    bytes.Buffer
	now    time.Time
}

const secret = "canary-s3cret-value"

func newZone(t *testing.T) *testZone {
	t.Helper()
	f := bundletest.New(t)
	z := &testZone{t: t, f: f, dir: t.TempDir(), now: f.Now.Add(time.Hour)}
	z.root = filepath.Join(z.dir, "srv")
	z.marker = filepath.Join(z.dir, "marker")
	idFile := filepath.Join(z.dir, "zone.agekey")
	if err := os.WriteFile(idFile, []byte(f.Identity.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	rk := filepath.Join(z.dir, "receipt.key")
	if err := os.WriteFile(rk, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(z.dir, "release.pub"), f.Release.Public().PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	trust := fmt.Sprintf(`apiVersion: airlock/v1
zone: test
host: host1
roles:
  release: { threshold: 1, keys: [release.pub] }
identities: [zone.agekey]
receipts: { key: receipt.key }
state: state
variables:
  Root: %q
  Marker: %q
`, z.root, z.marker)
	if err := os.WriteFile(filepath.Join(z.dir, "trust.yaml"), []byte(trust), 0o644); err != nil {
		t.Fatal(err)
	}
	if z.trust, err = zone.Load(filepath.Join(z.dir, "trust.yaml")); err != nil {
		t.Fatal(err)
	}
	z.commit()
	return z
}

// commit records the zone's policy (as z.trust holds it now) in the chain:
// the genesis record of a new zone, or a policy commit after a test
// changed the policy.
func (z *testZone) commit() *CommitResult {
	z.t.Helper()
	res, err := CommitPolicy(context.Background(), CommitOptions{Trust: z.trust, Operator: "Test Operator",
		Now: func() time.Time { return z.now }, Version: "test", Stderr: &z.out})
	if err != nil {
		z.t.Fatal(err)
	}
	return res
}

// release is a test release: version, and the command of its "migrate" step.
func release(version, migrate string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
channel: stable
targets: [zone:test]
expires: 24h
change: { ticket: CHG-9, reason: test }
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent }
  Marker: { value: /nonexistent }
  Greeting: hello
  Secret: { sensitive: true, fromEnv: SHOP_SECRET }
steps:
  - name: prepare
    run: 'echo "prepare $AIRLOCK_RELEASE_VERSION" >> "#{Marker}"'
  - name: install
    deploy: web
    to: "#{Root}"
    substitute: ["conf/*.conf"]
  - name: migrate
    run: %q
    timeout: 5s
  - name: undo
    when: failure
    run: 'echo "undo $(readlink "#{Root}/current")" >> "#{Marker}"'
  - name: audit trail
    when: always
    run: 'echo "always $Secret"; echo always >> "#{Marker}.always"'
`, version, migrate)
}

func webFiles() map[string]string {
	return map[string]string{
		"web/index.html":    "<p>shop</p>\n",
		"web/conf/app.conf": "greeting=#{Greeting}\nsecret=#{Secret}\nversion=#{Airlock.Release.Version}\n",
	}
}

// build builds a release into a folder bundle.
func (z *testZone) build(version, migrate string, seq uint64) string {
	z.t.Helper()
	dir, _ := z.f.Build(bundletest.Options{YAML: release(version, migrate), Files: webFiles(), Sequence: seq, Secret: secret})
	return dir
}

func (z *testZone) opts(bundle string) Options {
	return Options{Bundle: bundle, Trust: z.trust, Stdout: &z.out, Stderr: &z.out, Now: func() time.Time { return z.now },
		Version: "test", ReceiptOut: filepath.Join(z.dir, "media")}
}

func (z *testZone) apply(bundle string, edit ...func(*Options)) (*Result, error) {
	z.t.Helper()
	o := z.opts(bundle)
	for _, e := range edit {
		e(&o)
	}
	return Apply(context.Background(), o)
}

func (z *testZone) current() string {
	z.t.Helper()
	target, err := os.Readlink(filepath.Join(z.root, "current"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		z.t.Fatal(err)
	}
	return target
}

func (z *testZone) markers() string {
	b, _ := os.ReadFile(z.marker)
	return string(b)
}

// receipt reads and verifies the receipt a result names.
func (z *testZone) receipt(res *Result) *receipt.Predicate {
	z.t.Helper()
	data, err := os.ReadFile(res.Receipt)
	if err != nil {
		z.t.Fatal(err)
	}
	k, err := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	if err != nil {
		z.t.Fatal(err)
	}
	r, err := receipt.Verify(data, []*keys.PublicKey{k.Public()})
	if err != nil {
		z.t.Fatal(err)
	}
	return r.Predicate()
}

// chain verifies the zone's receipts in the state directory as one hash
// chain and returns the predicates of its applies in order (the genesis
// record and policy commits are checked, not returned).
func (z *testZone) chain() []*receipt.Predicate {
	z.t.Helper()
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "receipts"))
	var out []*receipt.Predicate
	prev, n := "", uint64(0)
	for _, e := range ents {
		if _, ok := receipt.SeqOf(z.trust.Policy.Zone, e.Name()); !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(z.trust.StateDir, "receipts", e.Name()))
		if err != nil {
			z.t.Fatal(err)
		}
		r, err := receipt.Verify(data, []*keys.PublicKey{k.Public()})
		if err != nil {
			z.t.Fatalf("%s: %v", e.Name(), err)
		}
		p := r.Predicate()
		n++
		if p.Seq != n || p.PrevSHA256 != prev {
			z.t.Fatalf("%s: seq %d prev %q breaks the chain (want seq %d prev %q)", e.Name(), p.Seq, p.PrevSHA256, n, prev)
		}
		prev = r.SHA256
		if !p.EventOf().IsControl() {
			out = append(out, p)
		}
	}
	return out
}
