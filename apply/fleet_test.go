//go:build unix

package apply

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
	"airlock.dev/airlock/zone"
)

// newHost makes a host of the zone "test" named host, with its own state
// directory and receipt key, sharing f's keys and identity: one of a
// fleet. extra is appended to its trust.yaml, vars to its variables.
func newHost(t *testing.T, f *bundletest.Fixture, host, extra string, vars ...string) *testZone {
	t.Helper()
	z := &testZone{t: t, f: f, dir: t.TempDir(), now: f.Now.Add(time.Hour)}
	z.root = filepath.Join(z.dir, "srv")
	z.marker = filepath.Join(z.dir, "marker")
	trust := f.WriteZone(z.dir, "variables:\n  Root: \""+z.root+"\"\n  Marker: \""+z.marker+"\"\n"+strings.Join(vars, "")+extra)
	data, _ := os.ReadFile(trust)
	if err := os.WriteFile(trust, bytes.Replace(data, []byte("host: host1\n"), []byte("host: "+host+"\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if z.trust, err = zone.Load(trust); err != nil {
		t.Fatal(err)
	}
	z.commit()
	return z
}

func mediaNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestFleetOneMediaFolder: three hosts of one zone apply one bundle and
// copy their receipts into one media folder: every host's chain is there
// whole, under names of its own, identical to its state directory.
func TestFleetOneMediaFolder(t *testing.T) {
	f := bundletest.New(t)
	media := filepath.Join(t.TempDir(), "media")
	var hosts []*testZone
	for _, h := range []string{"app-01", "app-02", "app-03"} {
		hosts = append(hosts, newHost(t, f, h, ""))
	}
	b := hosts[0].build("1.0.0", "true", 1)
	for _, z := range hosts {
		if _, err := z.apply(b, func(o *Options) { o.ReceiptOut = media }); err != nil {
			t.Fatal(err)
		}
	}
	got := mediaNames(t, media)
	var want []string
	for _, h := range []string{"app-01", "app-02", "app-03"} {
		want = append(want, receipt.FileName("test", h, 1), receipt.FileName("test", h, 2),
			receipt.FilesListName(receipt.FileName("test", h, 2)), receipt.InventoryName(receipt.FileName("test", h, 2)))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("media holds %v, want %v", got, want)
	}
	for _, z := range hosts {
		for _, n := range []string{receipt.FileName("test", z.trust.Policy.Host, 1), receipt.FileName("test", z.trust.Policy.Host, 2)} {
			a, _ := os.ReadFile(filepath.Join(media, n))
			b, _ := os.ReadFile(filepath.Join(z.trust.StateDir, "receipts", n))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s: the media copy differs from %s's state directory", n, z.trust.Policy.Host)
			}
		}
	}
}

// TestFleetNameCollision: two hosts that claim one host name (a
// misconfiguration) write receipts of the same names; the second host's
// copy to the shared media is an error and the first host's receipts stay
// as they were. The second host's receipts are in its state directory,
// and apply --resume copies them once the media is cleared up.
func TestFleetNameCollision(t *testing.T) {
	f := bundletest.New(t)
	media := filepath.Join(t.TempDir(), "media")
	a, b := newHost(t, f, "app-01", ""), newHost(t, f, "app-01", "")
	bundle := a.build("1.0.0", "true", 1)
	if _, err := a.apply(bundle, func(o *Options) { o.ReceiptOut = media }); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, n := range mediaNames(t, media) {
		before[n], _ = os.ReadFile(filepath.Join(media, n))
	}
	b.out.Reset()
	res, err := b.apply(bundle, func(o *Options) { o.ReceiptOut = media })
	if err != nil {
		t.Fatal(err)
	}
	if res.ReceiptCopy != "" || !strings.Contains(b.out.String(), "receipt NOT copied") || !strings.Contains(b.out.String(), "refusing to replace") {
		t.Fatalf("copy %q; output:\n%s", res.ReceiptCopy, b.out.String())
	}
	for n, data := range before {
		if now, _ := os.ReadFile(filepath.Join(media, n)); !bytes.Equal(now, data) {
			t.Errorf("%s was replaced", n)
		}
	}
	if _, err := os.Stat(res.Receipt); err != nil {
		t.Fatalf("the receipt is not in the state directory: %v", err)
	}
	// Cleared up (the first host's receipts moved elsewhere), resume copies.
	// (The folder itself stays: a folder gone since the apply began is
	// taken for media pulled out, and is not made again.)
	other := t.TempDir()
	for _, n := range mediaNames(t, media) {
		if err := os.Rename(filepath.Join(media, n), filepath.Join(other, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Resume(t.Context(), b.opts("")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{receipt.FileName("test", "app-01", 1), receipt.FileName("test", "app-01", 2)} {
		x, _ := os.ReadFile(filepath.Join(media, n))
		y, _ := os.ReadFile(filepath.Join(b.trust.StateDir, "receipts", n))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("after resume, %s is not the second host's", n)
		}
	}
}

// TestChainGoesOnFromVersion1Names: a state directory whose receipts
// carry version 1 names (receipt-<zone>-<seq>) is continued under the
// host's names, from the same chain.
func TestChainGoesOnFromVersion1Names(t *testing.T) {
	z := newZone(t)
	dir := filepath.Join(z.trust.StateDir, "receipts")
	if err := os.Rename(filepath.Join(dir, receipt.FileName("test", "host1", 1)), filepath.Join(dir, receipt.FileName("test", "", 1))); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(z.build("1.0.0", "true", 1))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Receipt) != receipt.FileName("test", "host1", 2) {
		t.Fatalf("receipt %s", res.Receipt)
	}
	if got := z.chain(); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("chain %+v", got)
	}
	z.checkMedia(2)
	if _, err := os.Stat(filepath.Join(z.media(), receipt.FileName("test", "", 1))); err != nil {
		t.Errorf("the version 1 genesis was not carried out under its name: %v", err)
	}
}

// fleetRelease is release() with other targets and a scoped Greeting.
func fleetRelease(version, targets, greeting string) string {
	r := release(version, "true")
	r = strings.Replace(r, "targets: [zone:test]", "targets: "+targets, 1)
	return strings.Replace(r, "  Greeting: hello\n", greeting, 1)
}

func (z *testZone) buildYAML(yaml string, seq uint64) string {
	z.t.Helper()
	dir, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: webFiles(), Sequence: seq, Secret: secret})
	return dir
}

// deployed reads a file of the current release of the host's deploy root.
func (z *testZone) deployed(name string) string {
	z.t.Helper()
	b, err := os.ReadFile(filepath.Join(z.root, "current", name))
	if err != nil {
		z.t.Fatal(err)
	}
	return string(b)
}

// TestFleetRoleTargets: a bundle for role:web applies on the hosts that
// hold the role and is refused, reason target, on the others.
func TestFleetRoleTargets(t *testing.T) {
	f := bundletest.New(t)
	hosts := map[string]*testZone{
		"app-01": newHost(t, f, "app-01", "hostRoles: [web]\n"),
		"app-02": newHost(t, f, "app-02", "hostRoles: [batch, web]\n"),
		"db-01":  newHost(t, f, "db-01", "hostRoles: [db]\n"),
		"db-02":  newHost(t, f, "db-02", ""),
	}
	b := hosts["app-01"].buildYAML(fleetRelease("1.0.0", "[zone:test, role:web]", "  Greeting: hello\n"), 1)
	for name, z := range hosts {
		res, err := z.apply(b)
		p := z.receipt(res)
		if name == "app-01" || name == "app-02" {
			if err != nil || p.Outcome.Result != receipt.Applied || z.current() == "" {
				t.Errorf("%s: %v, receipt %+v", name, err, p.Outcome)
			}
			if p.Policy == nil || len(p.Policy.HostRoles) == 0 {
				t.Errorf("%s: the receipt's policy records no host roles: %+v", name, p.Policy)
			}
			continue
		}
		var ve *verify.Error
		if !errors.As(err, &ve) || ve.Check != receipt.CheckTarget || p.Outcome.Result != receipt.Refused || p.Outcome.Reason != receipt.Reason(receipt.CheckTarget) {
			t.Errorf("%s: %v, receipt %+v", name, err, p.Outcome)
		}
		if !strings.Contains(p.Outcome.Message, "role:web") || z.current() != "" {
			t.Errorf("%s: message %q, current %q", name, p.Outcome.Message, z.current())
		}
	}
}

// TestFleetScopedVariables: a variable's value for the host beats its
// value for a role of the host, which beats its value for the zone and
// the bundle's own; trust.yaml beats them all. Two roles of one host that
// give different values are refused unless something more specific
// chooses. Plan names each value's source.
func TestFleetScopedVariables(t *testing.T) {
	f := bundletest.New(t)
	yaml := fleetRelease("1.0.0", "[zone:test]", `  Greeting:
    value: hello
    byZone: { test: hello-zone }
    byRole: { web: hello-web, batch: hello-batch, db: hello-zone }
    byHost: { app-03: hello-app-03 }
`)
	for _, tc := range []struct {
		host, extra    string
		greeting, from string // "" greeting: refused
		origin         receipt.Origin
		scope          string
	}{
		{"app-01", "hostRoles: [web]\n", "hello-web", "bundle byRole web", receipt.OriginBundleRole, "web"},
		{"db-01", "", "hello-zone", "bundle byZone test", receipt.OriginBundleZone, "test"},
		{"app-03", "hostRoles: [web]\n", "hello-app-03", "bundle byHost app-03", receipt.OriginBundleHost, "app-03"},
		{"app-02", "hostRoles: [batch, web]\n", "", "", "", ""},
		{"db-02", "hostRoles: [db, web]\n", "", "", "", ""},
		{"app-04", "hostRoles: [batch, web]\n", "hello-trust", "trust.yaml", receipt.OriginTrust, ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			var vars []string
			if tc.host == "app-04" {
				vars = append(vars, "  Greeting: hello-trust\n")
			}
			z := newHost(t, f, tc.host, tc.extra, vars...)
			b := z.buildYAML(yaml, 1)
			plan, perr := MakePlan(t.Context(), z.opts(b))
			res, err := z.apply(b)
			if tc.greeting == "" {
				p := z.receipt(res)
				if !errors.Is(err, ErrRoleConflict) || !errors.Is(perr, ErrRoleConflict) || p.Outcome.Reason != receipt.Reason(receipt.CheckVariables) {
					t.Fatalf("apply %v, plan %v, receipt %+v", err, perr, p.Outcome)
				}
				if !strings.Contains(err.Error(), "Greeting") || !strings.Contains(err.Error(), "byHost") {
					t.Errorf("message %q", err)
				}
				return
			}
			if err != nil || perr != nil {
				t.Fatalf("apply %v, plan %v", err, perr)
			}
			if got := z.deployed("conf/app.conf"); !strings.Contains(got, "greeting="+tc.greeting+"\n") {
				t.Errorf("deployed conf:\n%s\nwant greeting=%s", got, tc.greeting)
			}
			// The receipt names the source of each value, and which the
			// zone replaced.
			want := receipt.VariableSource{Name: "Greeting", Origin: tc.origin, Scope: tc.scope, Replaced: tc.origin.Zone()}
			if tc.origin == receipt.OriginTrust {
				want.File, want.SHA256 = z.trust.File, z.trust.SHA256
			}
			if got := sourceOf(t, z.receipt(res), "Greeting"); got != want {
				t.Errorf("receipt: source %+v, want %+v", got, want)
			}
			for _, v := range plan.Variables {
				if v.Name == "Greeting" && (v.Value != tc.greeting || !strings.HasSuffix(v.Source, tc.from)) {
					t.Errorf("plan: Greeting = %q from %q, want %q from %q", v.Value, v.Source, tc.greeting, tc.from)
				}
				if v.Name == "Root" && !strings.HasSuffix(v.Source, "trust.yaml") {
					t.Errorf("plan: Root from %q", v.Source)
				}
			}
		})
	}
}
