package apply

// These tests are not Unix-specific: they build for Windows, where the
// release switch is a junction (link_windows.go), and run there under
// Wine in CI (wine_test.go). Steps that run processes are left out (a
// step's shell is Unix's sh or Windows' PowerShell): every other part of
// an apply — verify, decrypt, extract, deploy, switch, roll back, receipt
// — runs.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// mustRelease writes <to>/releases/<name>/index.html holding name.
func mustRelease(t *testing.T, to, name string) {
	t.Helper()
	dir := filepath.Join(to, releasesDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
}

// served is what a reader of <to>/current/index.html gets.
func served(t *testing.T, to string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(to, currentLink, "index.html"))
	if err != nil {
		t.Fatalf("read through current: %v", err)
	}
	return string(b)
}

// TestReleaseSwitch switches current to a first release, then over an
// existing link to a second (what fails with a renamed directory link on
// Windows), back, and removes it when there was none before.
func TestReleaseSwitch(t *testing.T) {
	skipWithoutLinks(t)
	to := filepath.Join(bundletest.TempDir(t), "srv")
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRelease(t, to, "1.0")
	mustRelease(t, to, "2.0")
	for _, step := range []struct{ next, want string }{{"releases/1.0", "1.0"}, {"releases/2.0", "2.0"}, {"releases/1.0", "1.0"}} {
		if err := switchTo(to, step.next); err != nil {
			t.Fatalf("switch to %s: %v", step.next, err)
		}
		if cur, err := readCurrent(to); err != nil || cur != step.next {
			t.Fatalf("current = %q, %v; want %s", cur, err, step.next)
		}
		if got := served(t, to); got != step.want {
			t.Fatalf("current serves %q, want %q", got, step.want)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(to, ".current.tmp-*")); len(leftovers) > 0 {
		t.Errorf("switching left %v", leftovers)
	}
	// A rollback of a first deploy removes the link only, never the release.
	if err := switchBack(&switchRecord{To: to, Next: "releases/2.0"}); err == nil {
		t.Fatal("switchBack removed a current that is not the link it made")
	}
	if err := switchBack(&switchRecord{To: to, Next: "releases/1.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(to, currentLink)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("current still there after rolling back the first deploy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(to, releasesDir, "1.0", "index.html")); err != nil {
		t.Fatalf("rolling back removed the release: %v", err)
	}
	if got := currentNow(to); got != "" {
		t.Errorf("currentNow = %q with no current", got)
	}
}

// TestDeployTargetRules: a deploy target whose releases folder is a link,
// or whose current is not a link airlock made — a directory, a file, a
// link elsewhere — is refused and left as it is.
func TestDeployTargetRules(t *testing.T) {
	elsewhere := bundletest.TempDir(t)
	mustRelease(t, elsewhere, "9.9")
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, to string)
		want  string
	}{
		{"releases is a link", func(t *testing.T, to string) {
			skipWithoutLinks(t)
			makeDirLink(t, filepath.Join(elsewhere, releasesDir), filepath.Join(to, releasesDir))
		}, "not a directory"},
		{"current is a directory", func(t *testing.T, to string) {
			mustRelease(t, to, "1.0")
			if err := os.Mkdir(filepath.Join(to, currentLink), 0o755); err != nil {
				t.Fatal(err)
			}
		}, "refusing to replace it"},
		{"current is a file", func(t *testing.T, to string) {
			mustRelease(t, to, "1.0")
			if err := os.WriteFile(filepath.Join(to, currentLink), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "refusing to replace it"},
		{"current links elsewhere", func(t *testing.T, to string) {
			skipWithoutLinks(t)
			mustRelease(t, to, "1.0")
			makeDirLink(t, filepath.Join(elsewhere, releasesDir, "9.9"), filepath.Join(to, currentLink))
		}, "refusing to replace it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := filepath.Join(bundletest.TempDir(t), "srv")
			if err := os.MkdirAll(to, 0o755); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, to)
			before := snapshot(t, to, elsewhere)
			_, err := prepareInstall(to, "2.0")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("prepareInstall: %v, want %q", err, tc.want)
			}
			if after := snapshot(t, to, elsewhere); after != before {
				t.Errorf("the deploy target changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
}

// snapshot lists what is in the folders, without following links.
func snapshot(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %v\n", p, e.Type())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// deployRelease is a release of one package deployed to #{Root}, and no
// step that runs a process.
func deployRelease(version string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
targets: [zone:test]
packages:
  - name: web
    path: web
variables:
  Root: { value: /nonexistent }
steps:
  - name: install
    deploy: web
    to: "#{Root}"
    substitute: ["conf/*.conf"]
    keep: 2
`, version)
}

// TestApplyChecks applies a release whose one step is a check — no
// process, no release switch — twice: applied, then already applied, with
// a receipt each, chained.
func TestApplyChecks(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	f := bundletest.New(t)
	dir := bundletest.TempDir(t)
	f.WriteZone(dir, "")
	trust, err := zone.Load(filepath.Join(dir, "trust.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return f.Now.Add(time.Hour) }
	var out strings.Builder
	if _, err := CommitPolicy(context.Background(), CommitOptions{Trust: trust, Operator: "Test", Now: clock, Version: "test", Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`apiVersion: airlock/v1
name: probe
version: "1.0"
targets: [zone:test]
packages:
  - name: web
    path: web
steps:
  - name: listening
    check: { tcp: %q, timeout: 10s }
`, l.Addr().String())
	b, _ := f.Build(bundletest.Options{YAML: yaml, Files: map[string]string{"web/index.html": "<p>probe</p>\n"}, Sequence: 1})
	for _, want := range []receipt.Reason{receipt.ReasonOK, receipt.ReasonAlreadyApplied} {
		res, err := Apply(context.Background(), Options{Bundle: b, Trust: trust, Stdout: &out, Stderr: &out, Now: clock, Version: "test"})
		if err != nil || res.Reason != want {
			t.Fatalf("apply: %+v, %v, want %s\n%s", res, err, want, out.String())
		}
	}
	h, err := ReadHistory(trust, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !h[0].Verified || h[0].Reason != receipt.ReasonAlreadyApplied || h[1].Outcome != receipt.Applied {
		t.Errorf("history: %+v", h)
	}
}

// TestApplyDeploys applies three releases and a rollback-free re-apply to
// a zone, as an operator would, and checks the switch, the substituted
// configuration, the pruning of old releases and the receipts' chain.
func TestApplyDeploys(t *testing.T) {
	skipWithoutLinks(t)
	f := bundletest.New(t)
	dir := bundletest.TempDir(t)
	root := filepath.Join(dir, "srv")
	f.WriteZone(dir, fmt.Sprintf("variables:\n  Root: %q\n", root))
	trust, err := zone.Load(filepath.Join(dir, "trust.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	now := f.Now.Add(time.Hour)
	clock := func() time.Time { return now }
	var out strings.Builder
	if _, err := CommitPolicy(context.Background(), CommitOptions{Trust: trust, Operator: "Test", Now: clock, Version: "test", Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"web/index.html": "<p>shop</p>\n", "web/conf/app.conf": "version=#{Airlock.Release.Version}\n"}
	for i, version := range []string{"1.0", "2.0", "3.0"} {
		b, _ := f.Build(bundletest.Options{YAML: deployRelease(version), Files: files, Sequence: uint64(i + 1)})
		res, err := Apply(context.Background(), Options{Bundle: b, Trust: trust, Stdout: &out, Stderr: &out, Now: clock, Version: "test",
			ReceiptOut: filepath.Join(dir, "media")})
		if err != nil || res.Outcome != receipt.Applied {
			t.Fatalf("apply %s: %+v, %v\n%s", version, res, err, out.String())
		}
		if cur, err := readCurrent(root); err != nil || cur != "releases/"+version {
			t.Fatalf("after %s: current = %q, %v", version, cur, err)
		}
		conf, err := os.ReadFile(filepath.Join(root, currentLink, "conf", "app.conf"))
		if err != nil || string(conf) != "version="+version+"\n" {
			t.Fatalf("after %s: app.conf = %q, %v", version, conf, err)
		}
		now = now.Add(time.Minute)
	}
	ents, err := os.ReadDir(filepath.Join(root, releasesDir))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, e := range ents {
		kept = append(kept, e.Name())
	}
	if strings.Join(kept, " ") != "2.0 3.0" {
		t.Errorf("releases kept: %v, want 2.0 3.0 (keep: 2)", kept)
	}
	st, err := ReadStatus(trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Targets) != 1 || st.Targets[0].Current != "releases/3.0" || st.Targets[0].Link != "releases/3.0" || st.Targets[0].Previous != "releases/2.0" {
		t.Errorf("status: %+v", st.Targets)
	}
	if st.Receipts != 4 {
		t.Errorf("status: %d receipts, want 4 (the genesis record and three applies)", st.Receipts)
	}
}
