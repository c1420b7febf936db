//go:build unix

package apply

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	f.WriteZone(z.dir, fmt.Sprintf("variables:\n  Root: %q\n  Marker: %q\n", z.root, z.marker))
	var err error
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
// record, policy commits and drift records are checked, not returned).
func (z *testZone) chain() []*receipt.Predicate {
	z.t.Helper()
	var out []*receipt.Predicate
	for _, p := range z.chainAll() {
		if !p.EventOf().IsControl() {
			out = append(out, p)
		}
	}
	return out
}

// chainAll is chain with every entry, control records included.
func (z *testZone) chainAll() []*receipt.Predicate {
	z.t.Helper()
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "receipts"))
	var out []*receipt.Predicate
	prev, n := "", uint64(0)
	for _, e := range ents {
		if _, _, ok := receipt.ParseFileName(z.trust.Policy.Zone, e.Name()); !ok {
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
		out = append(out, p)
	}
	return out
}

// media is the folder the zone's receipts are carried out on.
func (z *testZone) media() string { return filepath.Join(z.dir, "media") }

// child returns the applier run in a child process (see childApply) on
// bundle, with extra environment such as AIRLOCK_CHILD_KILL_AT.
func (z *testZone) child(bundle string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "AIRLOCK_APPLY_CHILD=1", "AIRLOCK_CHILD_TRUST="+z.trust.File,
		"AIRLOCK_CHILD_BUNDLE="+bundle, "AIRLOCK_CHILD_NOW="+z.now.Format(time.RFC3339))
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// resume runs apply --resume without --receipt-out.
func (z *testZone) resume() (*Result, error) {
	o := z.opts("")
	o.ReceiptOut = ""
	return Resume(context.Background(), o)
}

// checkMedia checks that the media holds exactly the n entries of the
// zone's chain (its genesis record included), each identical to the one in
// the state directory.
func (z *testZone) checkMedia(n int) {
	z.t.Helper()
	ents, _ := os.ReadDir(z.media())
	var got []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".dsse.json") {
			got = append(got, e.Name())
		} else if strings.HasPrefix(e.Name(), ".") {
			z.t.Errorf("media: %s left behind", e.Name())
		}
	}
	if len(got) != n {
		z.t.Fatalf("media holds %d receipts %v, want %d", len(got), got, n)
	}
	for _, name := range got {
		a, _ := os.ReadFile(filepath.Join(z.media(), name))
		b, _ := os.ReadFile(filepath.Join(z.trust.StateDir, "receipts", name))
		if !bytes.Equal(a, b) {
			z.t.Errorf("media copy of %s differs from the state directory's", name)
		}
	}
}

// leftovers lists what an apply should not leave behind: anything in the
// state directory but the lock, channel and target records and receipts
// (with their file lists and logs); anything hidden or temporary in the
// deploy target; staged payloads and step outputs.
func (z *testZone) leftovers() []string {
	var out []string
	filepath.WalkDir(z.trust.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == z.trust.StateDir {
			return err
		}
		rel, _ := filepath.Rel(z.trust.StateDir, p)
		top, rest, _ := strings.Cut(filepath.ToSlash(rel), "/")
		switch {
		case rest == "" && (top == "lock" || top == "channels" || top == "receipts" || top == "staging" || top == "targets" || top == fileKeyName || top == stepsDirName):
		case top == stepsDirName && !strings.Contains("/"+rest, "/."): // step folders, kept with their releases
		case top == "channels" && !strings.HasPrefix(d.Name(), "."):
		case top == "targets" && !strings.HasPrefix(d.Name(), ".") && strings.HasSuffix(d.Name(), ".json"):
		case top == "receipts" && strings.HasPrefix(d.Name(), "receipt-") && !strings.Contains(d.Name(), ".tmp-"):
		case top == "store" && !strings.HasPrefix(rest, "tmp/") && !z.unnamedObject(rest):
		default:
			out = append(out, rel)
		}
		return nil
	})
	if ents, err := os.ReadDir(z.root); err == nil {
		for _, e := range ents {
			if e.Name() != "current" && e.Name() != "releases" {
				out = append(out, filepath.Join(z.root, e.Name()))
			}
		}
	}
	if ents, err := os.ReadDir(filepath.Join(z.root, "releases")); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(z.root, "releases", e.Name()))
			}
		}
	}
	return out
}

// unnamedObject reports whether rest (a path in the content store) is an
// object or chunk index that no release record names: a leftover.
func (z *testZone) unnamedObject(rest string) bool {
	dir, name, ok := strings.Cut(rest, "/")
	if !ok || (dir != "objects" && dir != "chunks") {
		return false
	}
	var named bool
	filepath.WalkDir(filepath.Join(z.trust.StateDir, "store", "releases"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			named = named || strings.Contains(string(data), name+"\n")
		}
		return nil
	})
	return !named
}
