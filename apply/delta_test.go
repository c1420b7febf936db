//go:build unix

package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// deltaFiles is the shop release at version v: the web files, a 2 MiB
// "jar" whose middle changes with v, a 1 MiB data file that never does.
func deltaFiles(v int) map[string]string {
	files := webFiles()
	files["web/index.html"] = fmt.Sprintf("<p>shop %d</p>\n", v)
	jar := randomBytes(2<<20, 1)
	copy(jar[1<<20:], fmt.Sprintf("class version %d", v))
	files["web/lib/app.jar"] = string(jar)
	files["web/data.bin"] = string(randomBytes(1<<20, 2))
	return files
}

// buildV builds shop version 1.v.0 from files, a delta on base if set.
func (z *testZone) buildV(v int, files map[string]string, base *bundle.Base) string {
	z.t.Helper()
	dir, _ := z.f.Build(bundletest.Options{YAML: release(fmt.Sprintf("1.%d.0", v), "true"), Files: files, Sequence: uint64(v), Secret: secret, Base: base})
	return dir
}

// receiptKey is the zone's receipt public key.
func (z *testZone) receiptKey() *keys.PublicKey {
	z.t.Helper()
	k, err := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	if err != nil {
		z.t.Fatal(err)
	}
	defer k.Close()
	return k.Public()
}

// since is the base of a delta of shop from the receipts in paths.
func (z *testZone) since(paths ...string) *verify.SinceResult {
	z.t.Helper()
	res, err := verify.Since(verify.SinceOptions{Paths: paths, Key: z.receiptKey(), Zone: "test", Release: "shop", Targets: []string{"zone:test"}})
	if err != nil {
		z.t.Fatal(err)
	}
	return res
}

// tree reads a deployed release: path → mode and content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st, _ := d.Info()
		content := ""
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			content = string(b)
		}
		out[rel] = fmt.Sprintf("%v %s", st.Mode(), content)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := tree(t, a), tree(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("%d entries deployed from the delta, %d from the full bundle", len(ta), len(tb))
	}
	for k, v := range ta {
		if tb[k] != v {
			t.Fatalf("%s differs between the delta's and the full bundle's release", k)
		}
	}
}

func payloadSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "payload.age") {
			st, _ := e.Info()
			n += st.Size()
		}
	}
	return n
}

// TestDeltaFullDeltaDelta: full, then two deltas, each built from the
// receipts on the media; each deploys exactly what the full bundle of the
// same release deploys, ships a fraction of it, and its receipt records
// its base.
func TestDeltaFullDeltaDelta(t *testing.T) {
	z := newZone(t)
	full := newHost(t, z.f, "host1", "") // the same releases, full bundles
	if _, err := z.apply(z.buildV(1, deltaFiles(1), nil)); err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	full.mustApply(z.buildV(1, deltaFiles(1), nil))
	for v := 2; v <= 3; v++ {
		base := z.since(z.media())
		if len(base.Hosts) != 1 || base.Hosts[0].Seq != uint64(v) {
			t.Fatalf("since took %+v, want receipt %d", base.Hosts, v)
		}
		d := z.buildV(v, deltaFiles(v), base.Base)
		f := z.buildV(v, deltaFiles(v), nil)
		if ds, fs := payloadSize(t, d), payloadSize(t, f); ds*5 > fs {
			t.Errorf("delta payload %d bytes, full %d: want less than a fifth", ds, fs)
		}
		res, err := z.apply(d)
		if err != nil {
			t.Fatalf("%v\n%s", err, z.out.String())
		}
		full.mustApply(f)
		rel := fmt.Sprintf("releases/1.%d.0", v)
		sameTree(t, filepath.Join(z.root, rel), filepath.Join(full.root, rel))
		p := z.receipt(res)
		if p.Delta == nil || len(p.Delta.Base) != 1 || p.Delta.Base[0] != base.Hosts[0].Receipt || p.Delta.BaseBytes < 1<<20 {
			t.Fatalf("receipt delta %+v, want base %s", p.Delta, base.Hosts[0].Receipt)
		}
		if p.Inventory == nil {
			t.Fatal("a delta's receipt records no inventory")
		}
	}
	noSecretStored(t, z)
}

// TestDeltaTamperedStore: an object changed in the store refuses the
// delta (base-missing) before any step runs; nothing changes.
func TestDeltaTamperedStore(t *testing.T) {
	z := newZone(t)
	z.mustApply(z.buildV(1, deltaFiles(1), nil))
	d := z.buildV(2, deltaFiles(2), z.since(z.media()).Base)
	objs, _ := filepath.Glob(filepath.Join(z.trust.StateDir, "store", "objects", "*"))
	for _, o := range objs {
		if st, _ := os.Stat(o); st.Size() == 1<<20 { // data.bin
			os.Chmod(o, 0o644)
			b, _ := os.ReadFile(o)
			b[100] ^= 1
			os.WriteFile(o, b, 0o644)
		}
	}
	z.assertBaseMissing(d, "changed in the content store", "releases/1.1.0")
}

func (z *testZone) assertBaseMissing(b, why, current string) {
	z.t.Helper()
	markers := z.markers()
	if _, err := MakePlan(z.t.Context(), z.opts(b)); why == "not in the content store" {
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != receipt.ReasonBaseMissing {
			z.t.Errorf("plan: %v, want refused base-missing", err)
		}
	}
	res, err := z.apply(b)
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != receipt.ReasonBaseMissing || res.Reason != receipt.ReasonBaseMissing {
		z.t.Fatalf("apply: %v (%+v), want refused base-missing", err, res)
	}
	if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "without --since") {
		z.t.Errorf("error %q does not say %q with the advice", err, why)
	}
	if z.current() != current || z.markers() != markers {
		z.t.Errorf("current %q, markers %q after a refused delta", z.current(), z.markers())
	}
}

// TestDeltaPrunedBase: a delta built from an old receipt whose content
// the host has pruned since (keep 3) is refused, naming that receipt.
func TestDeltaPrunedBase(t *testing.T) {
	z := newZone(t)
	z.mustApply(z.buildV(1, deltaFiles(1), nil))
	old := filepath.Join(z.media(), receipt.FileName("test", "host1", 2))
	for v := 2; v <= 4; v++ {
		z.mustApply(z.buildV(v, deltaFiles(v), nil))
	}
	files := deltaFiles(5)
	files["web/index.html"] = deltaFiles(1)["web/index.html"] // back to 1's: pruned
	d := z.buildV(5, files, z.since(old).Base)
	z.assertBaseMissing(d, "not in the content store", "releases/1.4.0")
}

// TestDeltaTwoHosts: two hosts of different histories; the delta ships
// what either lacks, and applies on both.
func TestDeltaTwoHosts(t *testing.T) {
	f := bundletest.New(t)
	a, b := newHost(t, f, "app-01", ""), newHost(t, f, "app-02", "")
	media := filepath.Join(t.TempDir(), "media")
	to := func(o *Options) { o.ReceiptOut = media }
	a.mustApplyWith(a.buildV(1, deltaFiles(1), nil), to)
	a.mustApplyWith(a.buildV(2, deltaFiles(2), nil), to)
	b.mustApplyWith(a.buildV(2, deltaFiles(2), nil), to) // b never had 1
	var reg strings.Builder
	reg.WriteString("apiVersion: airlock/v1\nzone: test\nhosts:\n")
	for _, h := range []*testZone{a, b} {
		pem := strings.ReplaceAll(strings.TrimSpace(string(h.receiptKey().PEM())), "\n", "\n        ")
		fmt.Fprintf(&reg, "  - name: %s\n    identity: zone\n    receiptKeys:\n      - |\n        %s\n", h.trust.Policy.Host, pem)
	}
	r, err := zone.ParseRegister([]byte(reg.String()))
	if err != nil {
		t.Fatal(err)
	}
	files := deltaFiles(3)
	files["web/old.html"] = deltaFiles(1)["web/index.html"] // a has it, b does not
	base, err := verify.Since(verify.SinceOptions{Paths: []string{media}, Register: r, Release: "shop", Targets: []string{"zone:test"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Hosts) != 2 || len(base.Base.Receipts) != 2 {
		t.Fatalf("since: %+v", base.Hosts)
	}
	d := a.buildV(3, files, base.Base)
	m := readManifest(t, d)
	for _, df := range m.Delta.Files {
		if df.Path == "packages/web/old.html" {
			t.Error("content only one host holds was left out")
		}
	}
	a.mustApply(d)
	b.mustApply(d)
	sameTree(t, filepath.Join(a.root, "releases/1.3.0"), filepath.Join(b.root, "releases/1.3.0"))

	// A receipt of another zone, or one forged, is refused at build.
	other := newZone(t)
	other.mustApplyWith(other.buildV(1, deltaFiles(1), nil), func(o *Options) { o.ReceiptOut = media })
	if _, err := verify.Since(verify.SinceOptions{Paths: []string{media}, Register: r, Release: "shop", Targets: []string{"zone:test"}}); err == nil {
		t.Error("a receipt of another zone's key was accepted")
	}
}

func (z *testZone) mustApplyWith(b string, edit func(*Options)) {
	z.t.Helper()
	if _, err := z.apply(b, edit); err != nil {
		z.t.Fatalf("%v\n%s", err, z.out.String())
	}
}

func readManifest(t *testing.T, dir string) *bundle.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if m.Delta == nil {
		t.Fatal("not a delta")
	}
	return m
}
