//go:build unix

package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// buildApp builds release name at version, like build, whose deploy
// step keeps keep releases.
func (z *testZone) buildApp(name, version string, seq uint64, keep int) string {
	z.t.Helper()
	yaml := strings.Replace(release(version, "true"), "name: shop", "name: "+name, 1)
	yaml = strings.Replace(yaml, "    to: \"#{Root}\"\n", fmt.Sprintf("    to: \"#{Root}\"\n    keep: %d\n", keep), 1)
	dir, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: webFiles(), Sequence: seq, Secret: secret})
	return dir
}

// applications lists applications in the zone's trust.yaml and commits
// the policy.
func (z *testZone) applications(yaml string) {
	z.t.Helper()
	z.editTrust(func(s string) string { return s + "applications:\n" + yaml })
	z.commit()
}

// TestApplicationVariables: an application's values beat the zone's, the
// var-file beats both; plan and the receipt say where each came from.
func TestApplicationVariables(t *testing.T) {
	z := newZone(t)
	appRoot := filepath.Join(z.dir, "apps", "shop")
	z.applications(fmt.Sprintf("  shop:\n    roots: [%q]\n    variables: { Root: %q, Greeting: shop-greeting }\n", filepath.Dir(appRoot), appRoot))
	varFile := filepath.Join(z.dir, "vars.yaml")
	os.WriteFile(varFile, []byte("Greeting: var-file-greeting\n"), 0o600)
	b := z.build("1.0.0", "true", 1)
	plan, err := MakePlan(t.Context(), z.opts(b))
	if err != nil {
		t.Fatal(err)
	}
	where := map[string]string{}
	for _, v := range plan.Variables {
		where[v.Name] = v.Source
	}
	if want := z.trust.File + " application shop"; where["Root"] != want || where["Marker"] != z.trust.File || where["Greeting"] != z.trust.File+" application shop" {
		t.Errorf("plan sources %v, want Root from %q", where, want)
	}
	res, err := z.apply(b, func(o *Options) { o.VarFile = varFile })
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if cur, _ := os.Readlink(filepath.Join(appRoot, "current")); cur != "releases/1.0.0" || z.current() != "" {
		t.Fatalf("deployed to %q (%s/current), zone root %q", cur, appRoot, z.current())
	}
	p := z.receipt(res)
	for _, want := range []receipt.VariableSource{
		{Name: "Root", Origin: receipt.OriginTrustApplication, Scope: "shop", File: z.trust.File, SHA256: z.trust.SHA256, Replaced: true},
		{Name: "Marker", Origin: receipt.OriginTrust, File: z.trust.File, SHA256: z.trust.SHA256, Replaced: true},
	} {
		if got := sourceOf(t, p, want.Name); got != want {
			t.Errorf("source of %s: %+v, want %+v", want.Name, got, want)
		}
	}
	if got := sourceOf(t, p, "Greeting"); got.Origin != receipt.OriginVarFile {
		t.Errorf("the var-file is the most specific: %+v", got)
	}
	if len(p.Releases) != 1 || p.Releases[0].Application != "shop" || p.Release.Application != "shop" || p.Releases[0].Adopted {
		t.Errorf("releases %+v", p.Releases)
	}
}

// TestApplicationRefusals: a deploy step outside the application's
// roots, through a link below them, into another application's target
// or inside or around it, or a release the zone does not list, is
// refused before any step runs (exit 3: a *RefusedError or a
// *verify.Error), by plan and apply alike; the receipt says why.
func TestApplicationRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(z *testZone) // before the zone's policy is committed
		bundle func(z *testZone) string
		reason receipt.Reason
		want   string
	}{
		{"outside the roots", func(z *testZone) {
			z.applications(fmt.Sprintf("  shop: { roots: [%q, /srv/shop-b] }\n", filepath.Join(z.dir, "elsewhere")))
		}, func(z *testZone) string { return z.build("1.0.0", "true", 1) },
			receipt.Reason(receipt.CheckTarget), "is outside the roots of application shop (" + "/srv/shop-b, "},
		{"a link below the root", func(z *testZone) {
			os.MkdirAll(filepath.Join(z.dir, "elsewhere"), 0o755)
			os.Symlink(filepath.Join(z.dir, "elsewhere"), z.root)
			z.applications(fmt.Sprintf("  shop: { roots: [%q] }\n", z.dir))
		}, func(z *testZone) string { return z.build("1.0.0", "true", 1) },
			receipt.Reason(receipt.CheckTarget), "is a symbolic link"},
		{"owned by another application", func(z *testZone) {
			z.mustApply(z.buildApp("blog", "0.9.0", 1, 3))
		}, func(z *testZone) string { return z.build("1.0.0", "true", 1) },
			receipt.ReasonTargetOwned, "belongs to application blog (the first to deploy there)"},
		{"inside another application's target", func(z *testZone) {
			z.mustApply(z.buildApp("blog", "0.9.0", 1, 3))
			z.editTrust(func(s string) string {
				return strings.Replace(s, "Root: \""+z.root, "Root: \""+z.root+"/releases/0.9.0", 1)
			})
			z.commit()
		}, func(z *testZone) string { return z.build("1.0.0", "true", 1) },
			receipt.ReasonTargetOwned, "lies inside " + "", // the path follows
		},
		{"around another application's target", func(z *testZone) {
			z.mustApply(z.buildApp("blog", "0.9.0", 1, 3))
			z.editTrust(func(s string) string { return strings.Replace(s, "Root: \""+z.root, "Root: \""+z.dir, 1) })
			z.commit()
		}, func(z *testZone) string { return z.build("1.0.0", "true", 1) },
			receipt.ReasonTargetOwned, "which belongs to application blog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := newZone(t)
			tc.setup(z)
			os.Remove(z.marker)
			b := tc.bundle(z)
			_, perr := MakePlan(t.Context(), z.opts(b))
			res, err := z.apply(b)
			for _, err := range []error{perr, err} {
				var re *RefusedError
				if !errors.As(err, &re) || re.Reason != tc.reason || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a refusal (%s) saying %q", err, tc.reason, tc.want)
				}
			}
			p := z.receipt(res)
			if p.Outcome.Result != receipt.Refused || p.Outcome.Reason != tc.reason || len(p.Steps) != 0 || !strings.Contains(p.Outcome.Message, tc.want) {
				t.Errorf("receipt outcome %+v, %d steps", p.Outcome, len(p.Steps))
			}
			if last := p.Checks[len(p.Checks)-1]; last.Name != receipt.CheckTarget || last.Result != receipt.Fail {
				t.Errorf("last check %+v, want target failed", last)
			}
			if z.markers() != "" {
				t.Errorf("a step ran: %q", z.markers())
			}
		})
	}

	// A zone that lists applications applies only those: the target check.
	z := newZone(t)
	z.applications("  billing: { roots: [/srv/billing] }\n")
	res, err := z.apply(z.build("1.0.0", "true", 1))
	var ve *verify.Error
	if !errors.As(err, &ve) || ve.Check != receipt.CheckTarget || !strings.Contains(err.Error(), "release shop is not one of the applications this zone lists (billing)") {
		t.Fatalf("err = %v, want the target check failed", err)
	}
	if p := z.receipt(res); p.Outcome.Reason != receipt.Reason(receipt.CheckTarget) || z.markers() != "" {
		t.Errorf("receipt %+v, markers %q", p.Outcome, z.markers())
	}
}

func (z *testZone) mustApply(b string) *Result {
	z.t.Helper()
	res, err := z.apply(b)
	if err != nil {
		z.t.Fatalf("%v\n%s", err, z.out.String())
	}
	return res
}

// TestTargetOwnedAtTheStep: a target that depends on what an earlier step
// published is checked when its deploy step runs: the step fails, and
// nothing of it is left.
func TestTargetOwnedAtTheStep(t *testing.T) {
	z := newZone(t)
	z.mustApply(z.buildApp("blog", "0.9.0", 1, 3))
	yaml := strings.Replace(release("1.0.0", "true"), "  - name: install\n", `  - name: where
    run: 'echo "Root=#{Root}" >> "$AIRLOCK_OUTPUT"'
  - name: install
`, 1)
	yaml = strings.Replace(yaml, `to: "#{Root}"`, `to: "#{Steps.where.Root}"`, 1)
	b, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: webFiles(), Sequence: 1, Secret: secret})
	res, err := z.apply(b)
	if !errors.Is(err, ErrStepFailed) || res.Outcome != receipt.RolledBack {
		t.Fatalf("%v %+v", err, res)
	}
	p := z.receipt(res)
	i := slices.IndexFunc(p.Steps, func(s receipt.Step) bool { return s.Name == "install" })
	if i < 0 || p.Steps[i].Result != receipt.StepFailed || !strings.Contains(p.Steps[i].Error, "belongs to application blog") {
		t.Fatalf("install step %+v", p.Steps)
	}
	if z.current() != "releases/0.9.0" {
		t.Errorf("current %q", z.current())
	}
}

// TestPruneOwnReleasesOnly: a target recorded before owners were is
// adopted by the next application that deploys there, which the receipt
// says; its releases are told apart by the receipts that installed them,
// and pruning (keep) removes only the application's own — never another
// application's, nor one whose application cannot be told. Another
// application is then refused there.
func TestPruneOwnReleasesOnly(t *testing.T) {
	z := newZone(t)
	z.mustApply(z.buildApp("blog", "0.9.0", 1, 3))
	// The state directory as an airlock without owners left it: the
	// target has no owner, its release none, and a release whose receipt
	// is gone is there too.
	rec, err := (&state{dir: z.trust.StateDir}).target(z.root)
	if err != nil {
		t.Fatal(err)
	}
	rec.Application = ""
	rec.Releases[0].Application = ""
	os.MkdirAll(filepath.Join(z.root, "releases", "0.1.0"), 0o755)
	rec.Releases = append([]releaseRecord{{Name: "0.1.0", BundleID: "old", Receipt: 999}}, rec.Releases...)
	if err := (&state{dir: z.trust.StateDir}).setTarget(rec); err != nil {
		t.Fatal(err)
	}

	res := z.mustApply(z.buildApp("shop", "1.0.0", 1, 1))
	p := z.receipt(res)
	if len(p.Releases) != 1 || !p.Releases[0].Adopted || p.Releases[0].Application != "shop" || !p.Release.Adopted {
		t.Fatalf("receipt releases %+v", p.Releases)
	}
	if !strings.Contains(z.out.String(), "had no owner recorded: it now belongs to application shop; releases of other applications there are left alone, never pruned: 0.1.0 ((none)), 0.9.0 (blog)") {
		t.Errorf("output:\n%s", z.out.String())
	}
	for i, v := range []string{"2.0.0", "3.0.0"} {
		res = z.mustApply(z.buildApp("shop", v, uint64(i+2), 1))
		if p := z.receipt(res); p.Releases[0].Adopted {
			t.Errorf("%s: adopted again", v)
		}
	}
	// keep 1, never the previous: shop 1.0.0 was pruned; blog's release
	// and the unattributed one are there.
	ents, _ := os.ReadDir(filepath.Join(z.root, "releases"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"0.1.0", "0.9.0", "2.0.0", "3.0.0"}) {
		t.Fatalf("releases %v", names)
	}
	if p := z.receipt(res); p.Release == nil || len(p.Release.Pruned) != 1 || !strings.HasSuffix(p.Release.Pruned[0], "/1.0.0") {
		t.Errorf("pruned %+v", p.Release)
	}
	rec, _ = (&state{dir: z.trust.StateDir}).target(z.root)
	data, _ := json.Marshal(rec)
	if rec.Application != "shop" || !strings.Contains(string(data), `{"name":"0.9.0","bundleId":`) || !strings.Contains(string(data), `"application":"blog"}`) {
		t.Errorf("target record %s", data)
	}
	res, err = z.apply(z.buildApp("blog", "1.0.0", 2, 3))
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != receipt.ReasonTargetOwned || !strings.Contains(err.Error(), "belongs to application shop") {
		t.Fatalf("blog after shop took the target: %v %+v", err, res)
	}
}
