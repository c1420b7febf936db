//go:build unix

package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

func TestApplySuccess(t *testing.T) {
	z := newZone(t)
	b := z.build("1.0.0", "echo migrated; echo \"Rows=42\" >> \"$AIRLOCK_OUTPUT\"", 1)
	res, err := z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if res.Outcome != receipt.Applied || z.current() != "releases/1.0.0" {
		t.Fatalf("outcome %s, current %q", res.Outcome, z.current())
	}
	conf, err := os.ReadFile(filepath.Join(z.root, "current", "conf", "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "greeting=hello\nsecret=" + secret + "\nversion=1.0.0\n"; string(conf) != want {
		t.Fatalf("substituted config %q, want %q", conf, want)
	}
	if z.markers() != "prepare 1.0.0\n" {
		t.Fatalf("markers %q", z.markers())
	}
	p := z.receipt(res)
	if p.Seq != 2 || len(p.PrevSHA256) != 64 || !p.Bundle.Verified || p.Bundle.Version != "1.0.0" || p.Outcome.Reason != "ok" {
		t.Fatalf("receipt %+v", p)
	}
	wantSteps := map[string]receipt.StepResult{"prepare": "succeeded", "install": "succeeded", "migrate": "succeeded", "undo": "skipped", "audit trail": "succeeded"}
	for _, s := range p.Steps {
		if wantSteps[s.Name] != s.Result {
			t.Errorf("step %s: %s, want %s", s.Name, s.Result, wantSteps[s.Name])
		}
	}
	if len(p.Files) != 2 || p.Release == nil || p.Release.Current != "releases/1.0.0" {
		t.Fatalf("files %v release %v", p.Files, p.Release)
	}
	key, err := readFileKey(filepath.Join(z.trust.StateDir, fileKeyName))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		// The config holds the secret: recorded by its keyed digest and
		// its template's, never its own.
		sum := sha256.Sum256(data)
		tmpl := sha256.Sum256([]byte(webFiles()["web/conf/app.conf"]))
		switch keyed := strings.HasSuffix(f.Path, "/app.conf"); {
		case !keyed && hex.EncodeToString(sum[:]) != f.SHA256:
			t.Errorf("receipt digest of %s does not match the deployed file", f.Path)
		case keyed && (f.SHA256 != "" || f.HMACKey != key.id || f.HMACSHA256 != key.sum(data) || f.TemplateSHA256 != hex.EncodeToString(tmpl[:])):
			t.Errorf("receipt record of %s, which holds the secret: %+v", f.Path, f)
		}
	}
	if _, err := os.Stat(filepath.Join(z.dir, "media", filepath.Base(res.Receipt))); err != nil {
		t.Fatalf("receipt not copied to --receipt-out: %v", err)
	}
	if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
		t.Fatal("journal left behind")
	}
	if ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "staging")); len(ents) != 0 {
		t.Fatalf("staging left behind: %v", ents)
	}
}

// TestApplyFailureRollsBack: a failing step runs the failure steps, leaves
// the previous release current, and the receipt says rolled-back.
func TestApplyFailureRollsBack(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	os.Remove(z.marker)
	res, err := z.apply(z.build("2.0.0", "echo broken >&2; exit 3", 2))
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("err = %v, want ErrStepFailed", err)
	}
	if res.Outcome != receipt.RolledBack || z.current() != "releases/1.0.0" {
		t.Fatalf("outcome %s, current %q", res.Outcome, z.current())
	}
	// The failure step saw the previous release current again.
	if z.markers() != "prepare 2.0.0\nundo releases/1.0.0\n" {
		t.Fatalf("markers %q", z.markers())
	}
	if _, err := os.Stat(filepath.Join(z.root, "releases", "2.0.0")); !os.IsNotExist(err) {
		t.Fatal("the failed release was left in releases/")
	}
	p := z.receipt(res)
	var migrate receipt.Step
	for _, s := range p.Steps {
		if s.Name == "migrate" {
			migrate = s
		}
	}
	if migrate.Result != receipt.StepFailed || migrate.ExitCode != 3 || !strings.Contains(migrate.Tail, "broken") {
		t.Fatalf("migrate step %+v", migrate)
	}
	if p.Outcome.Reason != "step-failed" || p.Seq != 3 {
		t.Fatalf("outcome %+v seq %d", p.Outcome, p.Seq)
	}
	// The sequence was not consumed: a fixed build of 2.0.0 can follow.
	if res, err := z.apply(z.build("2.0.1", "true", 3)); err != nil || z.current() != "releases/2.0.1" {
		t.Fatalf("apply after rollback: %v %v", res, err)
	}
}

func TestApplyReplayIsAlreadyApplied(t *testing.T) {
	z := newZone(t)
	b := z.build("1.0.0", "true", 1)
	if _, err := z.apply(b); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(b)
	if err != nil || res.Outcome != receipt.AlreadyApplied {
		t.Fatalf("replay: %v %v", res, err)
	}
	if z.markers() != "prepare 1.0.0\n" {
		t.Fatalf("steps ran again: %q", z.markers())
	}
	res, err = z.apply(b, func(o *Options) { o.ForceReapply = true })
	if err != nil || res.Outcome != receipt.Applied {
		t.Fatalf("force reapply: %v %v", res, err)
	}
	p := z.receipt(res)
	if !p.Reapply || len(p.Override) != 1 || p.Override[0].Name != "force-reapply" {
		t.Fatalf("override not recorded: %+v", p.Override)
	}
	if z.current() != "releases/1.0.0~2" {
		t.Fatalf("current %q", z.current())
	}
	if n := len(z.chain()); n != 3 {
		t.Fatalf("%d receipts, want 3", n)
	}
}

func TestApplyRefusals(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(z *testZone) string
		edit   func(o *Options)
		check  receipt.CheckName
		reason receipt.Reason
	}{
		{name: "lower sequence", setup: func(z *testZone) string {
			if _, err := z.apply(z.build("2.0.0", "true", 5)); err != nil {
				t.Fatal(err)
			}
			os.Remove(z.marker)
			return z.build("1.0.0", "true", 4)
		}, check: "sequence"},
		{name: "same sequence, different bundle", setup: func(z *testZone) string {
			if _, err := z.apply(z.build("2.0.0", "true", 5)); err != nil {
				t.Fatal(err)
			}
			os.Remove(z.marker)
			return z.build("2.0.0", "true", 5)
		}, check: "sequence"},
		{name: "wrong zone", setup: func(z *testZone) string {
			z.trust.Policy.Zone = "other"
			z.commit()
			return z.build("1.0.0", "true", 1)
		}, check: "target"},
		{name: "expired", setup: func(z *testZone) string {
			z.now = z.now.Add(48 * time.Hour)
			return z.build("1.0.0", "true", 1)
		}, check: "expiry"},
		{name: "wrong identity", setup: func(z *testZone) string {
			os.WriteFile(z.trust.Identities[0], []byte("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n"), 0o600)
			return z.build("1.0.0", "true", 1)
		}, check: "decrypt"},
		{name: "untrusted signer", setup: func(z *testZone) string {
			z.trust.Policy.Roles[0].Keys[0] = z.f.Other.Public()
			z.commit()
			return z.build("1.0.0", "true", 1)
		}, check: "signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := newZone(t)
			b := tt.setup(z)
			res, err := z.apply(b)
			var ve *verify.Error
			if tt.check != "" && (!errors.As(err, &ve) || ve.Check != tt.check) {
				t.Fatalf("err = %v, want a %s verification failure", err, tt.check)
			}
			if res == nil || res.Outcome != receipt.Refused {
				t.Fatalf("result %+v", res)
			}
			p := z.receipt(res)
			want := receipt.Reason(tt.check)
			if tt.reason != "" {
				want = tt.reason
			}
			if p.Outcome.Result != receipt.Refused || p.Outcome.Reason != want {
				t.Fatalf("receipt outcome %+v, want refused/%s", p.Outcome, want)
			}
			if z.markers() != "" {
				t.Fatalf("a step ran: %q", z.markers())
			}
			if len(p.Steps) != 0 || len(p.Files) != 0 {
				t.Fatalf("refused receipt lists steps or files: %+v", p)
			}
			z.chain()
		})
	}
}

func TestApplyAllowRollback(t *testing.T) {
	z := newZone(t)
	if _, err := z.apply(z.build("2.0.0", "true", 5)); err != nil {
		t.Fatal(err)
	}
	res, err := z.apply(z.build("1.0.0", "true", 4), func(o *Options) { o.AllowRollback = true })
	if err != nil || res.Outcome != receipt.Applied || z.current() != "releases/1.0.0" {
		t.Fatalf("%v %v current %s", res, err, z.current())
	}
	if p := z.receipt(res); len(p.Override) != 1 || p.Override[0].Name != "allow-rollback" {
		t.Fatalf("override not recorded: %+v", p.Override)
	}
}

func TestApplyRetriesAndOutputs(t *testing.T) {
	z := newZone(t)
	yaml := strings.Replace(release("1.0.0", "true"), `  - name: migrate
    run: "true"
    timeout: 5s`, `  - name: flaky
    run: 'n=$(cat "#{Marker}.n" 2>/dev/null || echo 0); echo $((n+1)) > "#{Marker}.n"; [ "$n" -ge 1 ]; echo "Answer=42" >> "$AIRLOCK_OUTPUT"'
    retries: 2
    retryDelay: 10ms
  - name: use output
    run: 'test "#{Steps.flaky.Answer}" = 42 && echo "answer #{Steps.flaky.Answer}" >> "#{Marker}"'`, 1)
	dir, _ := z.f.Build(bundletestOptions(yaml))
	res, err := z.apply(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	p := z.receipt(res)
	for _, s := range p.Steps {
		if s.Name == "flaky" && (s.Attempts != 2 || s.Result != receipt.StepSucceeded) {
			t.Fatalf("flaky step %+v", s)
		}
	}
	if !strings.Contains(z.markers(), "answer 42") {
		t.Fatalf("output variable not passed: %q", z.markers())
	}
}

func TestApplyTimeout(t *testing.T) {
	z := newZone(t)
	pidFile := filepath.Join(z.dir, "grandchild.pid")
	b := z.build("1.0.0", "sleep 1000 & echo $! > "+pidFile+"; sleep 1000", 1)
	yamlTimeout := 5 * time.Second
	start := time.Now()
	res, err := z.apply(b)
	if !errors.Is(err, ErrStepFailed) || res.Outcome != receipt.RolledBack {
		t.Fatalf("%v %v", res, err)
	}
	if took := time.Since(start); took > yamlTimeout+8*time.Second {
		t.Fatalf("took %v", took)
	}
	p := z.receipt(res)
	for _, s := range p.Steps {
		if s.Name == "migrate" && s.Result != receipt.StepTimedOut {
			t.Fatalf("migrate %+v, want timed-out", s)
		}
	}
	assertDead(t, pidFile)
	if z.current() != "" {
		t.Fatalf("first release left current after a timeout: %q", z.current())
	}
}

func TestApplyLockContention(t *testing.T) {
	z := newZone(t)
	st, err := openState(z.trust.StateDir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.acquire(0, "other bundle"); err != nil {
		t.Fatal(err)
	}
	_, err = z.apply(z.build("1.0.0", "true", 1))
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "other bundle") {
		t.Fatalf("err = %v, want ErrBusy naming the holder", err)
	}
	st.release()
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestApplyUnusableState(t *testing.T) {
	z := newZone(t)
	if err := os.RemoveAll(z.trust.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(z.trust.StateDir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := z.apply(z.build("1.0.0", "true", 1))
	if !errors.Is(err, ErrStateUnusable) {
		t.Fatalf("err = %v, want ErrStateUnusable", err)
	}
	if z.markers() != "" {
		t.Fatal("a step ran without a usable state directory")
	}
}

// TestCanaryNeverLeaks: the sensitive value appears in no receipt, log,
// journal, state or output — only in the file it is substituted into.
func TestCanaryNeverLeaks(t *testing.T) {
	z := newZone(t)
	z.trust.Auditors = []string{z.f.Identity.Recipient().String()}
	if _, err := z.apply(z.build("1.0.0", `echo "secret is $Secret"; printf %s "$Secret" | base64`, 1)); err != nil {
		t.Fatal(err)
	}
	z.apply(z.build("2.0.0", `echo "leaking $Secret" >&2; exit 1`, 2))
	if strings.Contains(z.out.String(), secret) {
		t.Fatalf("operator output holds the secret:\n%s", z.out.String())
	}
	if !strings.Contains(z.out.String(), "secret is ********") {
		t.Fatalf("masked line missing from output:\n%s", z.out.String())
	}
	var holders []string
	filepath.Walk(z.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || info.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
			rel, _ := filepath.Rel(z.dir, p)
			holders = append(holders, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(holders) != 1 || holders[0] != "srv/releases/1.0.0/conf/app.conf" {
		t.Fatalf("files holding the secret: %v", holders)
	}
	// The full step log, encrypted to the auditors, is masked too.
	enc, err := os.Open(filepath.Join(z.dir, "media", "receipt-test-host1-0000000002.log.age"))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	r, err := age.Decrypt(enc, z.f.Identity)
	if err != nil {
		t.Fatal(err)
	}
	log, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), secret) || !strings.Contains(string(log), "secret is ********") {
		t.Fatalf("auditor log:\n%s", log)
	}
}

func TestPlanRunsNothing(t *testing.T) {
	z := newZone(t)
	b := z.build("1.0.0", "echo #{Greeting}", 1)
	plan, err := MakePlan(t.Context(), z.opts(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) != 5 || plan.Steps[2].What != "echo hello" || plan.AlreadyApplied {
		t.Fatalf("plan %+v", plan.Steps)
	}
	for _, v := range plan.Variables {
		if v.Name == "Secret" && (v.Value != "" || !v.Sensitive) {
			t.Fatal("plan shows a sensitive value")
		}
	}
	if z.markers() != "" || z.current() != "" {
		t.Fatal("plan ran something")
	}
	if ents, _ := os.ReadDir(filepath.Join(z.trust.StateDir, "receipts")); len(ents) != 1 {
		t.Fatal("plan wrote a receipt (only the genesis record is there)")
	}
}

// TestDeployTwice: a package deployed to two targets is copied (not moved)
// for each, and both get the substituted configuration.
func TestDeployTwice(t *testing.T) {
	z := newZone(t)
	yaml := strings.Replace(release("1.0.0", "true"), `  - name: migrate`, `  - name: install mirror
    deploy: web
    to: "#{Root}/mirror"
    substitute: ["conf/*.conf"]
  - name: migrate`, 1)
	dir, _ := z.f.Build(bundletestOptions(yaml))
	res, err := z.apply(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	for _, target := range []string{z.root, filepath.Join(z.root, "mirror")} {
		conf, err := os.ReadFile(filepath.Join(target, "current", "conf", "app.conf"))
		if err != nil || !strings.Contains(string(conf), "greeting=hello") {
			t.Fatalf("%s: %q %v", target, conf, err)
		}
	}
	if n := len(z.receipt(res).Files); n != 4 {
		t.Fatalf("%d deployed files in the receipt, want 4", n)
	}
}

// TestApplyFromFirstPart: BUNDLE may be any file of a bundle folder, such
// as the first part of a payload split for media.
func TestApplyFromFirstPart(t *testing.T) {
	z := newZone(t)
	dir, _ := z.f.Build(bundletest.Options{YAML: release("1.0.0", "true"), Files: webFiles(), Sequence: 1, Secret: secret, Big: 5 << 19, Split: 1 << 20})
	res, err := z.apply(filepath.Join(dir, "payload.age.001"))
	if err != nil || res.Outcome != receipt.Applied {
		t.Fatalf("%v %v\n%s", res, err, z.out.String())
	}
	if _, err := os.Stat(filepath.Join(z.root, "current", "blob.bin")); err != nil {
		t.Fatal(err)
	}
}

// TestKeepReleases: after each successful apply the newest releases are
// kept (3 by default), never the current or previous one.
func TestKeepReleases(t *testing.T) {
	z := newZone(t)
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0", "4.0.0", "5.0.0"} {
		if _, err := z.apply(z.build(v, "true", uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(z.root, "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "3.0.0 4.0.0 5.0.0" || z.current() != "releases/5.0.0" {
		t.Fatalf("releases %v, current %s", names, z.current())
	}
}

func TestWarnsAboutExposedKeys(t *testing.T) {
	z := newZone(t)
	os.Chmod(z.trust.Identities[0], 0o644)
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(z.out.String(), "zone.agekey can be read by other users (mode 0644)") {
		t.Fatalf("no warning:\n%s", z.out.String())
	}
	if strings.Contains(z.out.String(), "receipt.key can be read") {
		t.Fatal("warned about a 0600 key")
	}
}

// TestVariablePrecedence: bundle value < trust.yaml < --var-file, whose
// values may be read from files kept in the zone; the receipt names the
// source of every value (the var-file with its digest), never a value. A
// zone file naming a variable the bundle does not declare is refused
// before any step runs.
func TestVariablePrecedence(t *testing.T) {
	z := newZone(t)
	varFile := filepath.Join(z.dir, "vars.yaml")
	doc := []byte("Greeting: bonjour\nSecret: { fromFile: secrets/shop }\n")
	os.WriteFile(varFile, doc, 0o600)
	os.Mkdir(filepath.Join(z.dir, "secrets"), 0o700)
	os.WriteFile(filepath.Join(z.dir, "secrets", "shop"), []byte("zone-only-secret\n"), 0o600)
	res, err := z.apply(z.build("1.0.0", "true", 1), func(o *Options) { o.VarFile = varFile })
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := os.ReadFile(filepath.Join(z.root, "current", "conf", "app.conf"))
	if !strings.Contains(string(conf), "greeting=bonjour\nsecret=zone-only-secret\n") {
		t.Fatalf("config %q", conf)
	}
	p := z.receipt(res)
	if strings.Join(p.Variables, ",") != "Greeting,Marker,Root,Secret" {
		t.Fatalf("variables used %v", p.Variables)
	}
	sum := sha256.Sum256(doc)
	for _, want := range []receipt.VariableSource{
		{Name: "Greeting", Origin: receipt.OriginVarFile, File: varFile, SHA256: hex.EncodeToString(sum[:]), Replaced: true},
		{Name: "Secret", Origin: receipt.OriginVarFile, File: varFile, SHA256: hex.EncodeToString(sum[:]),
			FromFile: filepath.Join(z.dir, "secrets", "shop"), Replaced: true},
		{Name: "Root", Origin: receipt.OriginTrust, File: z.trust.File, SHA256: z.trust.SHA256, Replaced: true},
	} {
		if got := sourceOf(t, p, want.Name); got != want {
			t.Errorf("source of %s: %+v, want %+v", want.Name, got, want)
		}
	}
	os.WriteFile(varFile, []byte("Undeclared: x\n"), 0o600)
	res, err = z.apply(z.build("2.0.0", "true", 2), func(o *Options) { o.VarFile = varFile })
	if err == nil || !strings.Contains(err.Error(), "Undeclared is not declared") || res.Outcome != receipt.Refused {
		t.Fatalf("%v %v", res, err)
	}
	if strings.Count(z.markers(), "prepare") != 1 {
		t.Fatalf("a step ran after the refusal: %q", z.markers())
	}
}

// TestValueFileRefused: a zone value file that others could rewrite or
// replace refuses the apply (reason variables) before any step runs, and
// plan alike; the error names the file, and its content is nowhere.
func TestValueFileRefused(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		make       func(p string)
	}{
		{"group-writable", "writable by group or others (mode 0620)", func(p string) {
			os.WriteFile(p, []byte("zone-only-secret"), 0o600)
			os.Chmod(p, 0o620)
		}},
		{"symbolic link", "is a symbolic link", func(p string) {
			os.WriteFile(p+".real", []byte("zone-only-secret"), 0o600)
			os.Symlink(p+".real", p)
		}},
		{"missing", "no such file", func(string) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := newZone(t)
			secretFile := filepath.Join(z.dir, "shop-secret")
			tc.make(secretFile)
			z.editTrust(func(s string) string { return s + "  Secret: { fromFile: shop-secret }\n" })
			z.commit()
			b := z.build("1.0.0", "true", 1)
			_, perr := MakePlan(t.Context(), z.opts(b))
			res, err := z.apply(b)
			for _, err := range []error{err, perr} {
				var re *RefusedError
				if !errors.As(err, &re) || re.Reason != receipt.Reason(receipt.CheckVariables) ||
					!strings.Contains(err.Error(), secretFile) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want a refusal (variables) naming %s: %s", err, secretFile, tc.want)
				}
			}
			p := z.receipt(res)
			data, _ := json.Marshal(p)
			if p.Outcome.Result != receipt.Refused || len(p.Steps) != 0 || strings.Contains(string(data), "zone-only-secret") ||
				strings.Contains(z.out.String(), "zone-only-secret") {
				t.Errorf("receipt %+v", p.Outcome)
			}
			if z.markers() != "" {
				t.Errorf("a step ran: %q", z.markers())
			}
		})
	}
}

// sourceOf is the receipt's record of where variable name's value came
// from.
func sourceOf(t *testing.T, p *receipt.Predicate, name string) receipt.VariableSource {
	t.Helper()
	for _, s := range p.VariableSources {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("the receipt names no source of %s: %+v", name, p.VariableSources)
	return receipt.VariableSource{}
}

// TestSensitiveOutput: a step may publish a secret ("sensitive name=value"),
// which later steps use and which is masked from then on.
func TestSensitiveOutput(t *testing.T) {
	z := newZone(t)
	yaml := strings.Replace(release("1.0.0", "true"), `  - name: migrate
    run: "true"
    timeout: 5s`, `  - name: issue
    run: 'echo "sensitive Token=issued-token-4711" >> "$AIRLOCK_OUTPUT"'
  - name: use
    run: 'echo "using #{Steps.issue.Token}"; test "#{Steps.issue.Token}" = issued-token-4711'`, 1)
	dir, _ := z.f.Build(bundletestOptions(yaml))
	res, err := z.apply(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if strings.Contains(z.out.String(), "issued-token-4711") || !strings.Contains(z.out.String(), "using ********") {
		t.Fatalf("output:\n%s", z.out.String())
	}
	p := z.receipt(res)
	for _, st := range p.Steps {
		if st.Name == "use" && (strings.Contains(st.Tail, "issued-token-4711") || !strings.Contains(st.Tail, "using ********")) {
			t.Fatalf("receipt tail %q", st.Tail)
		}
	}
}

// TestReceiptSizeBounded: a release of many files gives a receipt of
// bounded size; the full list of deployed files is beside it, named and
// digested in it.
func TestReceiptSizeBounded(t *testing.T) {
	z := newZone(t)
	files := webFiles()
	for i := 0; i < receipt.MaxListedFiles+500; i++ {
		files[fmt.Sprintf("web/assets/%04d.txt", i)] = fmt.Sprint(i)
	}
	dir, _ := z.f.Build(bundletest.Options{YAML: release("1.0.0", "true"), Files: files, Sequence: 1, Secret: secret})
	res, err := z.apply(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := z.receipt(res)
	if len(p.Files) != receipt.MaxListedFiles || p.FilesTotal != receipt.MaxListedFiles+502 {
		t.Fatalf("receipt lists %d of %d files", len(p.Files), p.FilesTotal)
	}
	list, err := os.ReadFile(filepath.Join(z.dir, "media", p.FilesList))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(list); hex.EncodeToString(sum[:]) != p.FilesSHA256 || strings.Count(string(list), "\n") != p.FilesTotal {
		t.Fatal("the file list does not match its digest or count in the receipt")
	}
	first := strings.SplitN(string(list), "\n", 2)[0]
	if want := p.Files[0].SHA256 + "  " + p.Files[0].Path; first != want {
		t.Fatalf("list starts %q, want %q", first, want)
	}
	if st, _ := os.Stat(res.Receipt); st.Size() > 1<<20 {
		t.Fatalf("receipt is %d bytes", st.Size())
	}
}

// TestLeftoversRemoved: a half-copied release and a stray link left by an
// apply killed mid-deploy are removed by the next deploy.
func TestLeftoversRemoved(t *testing.T) {
	z := newZone(t)
	os.MkdirAll(filepath.Join(z.root, "releases", ".1.0.0.tmp-abc123", "conf"), 0o755)
	os.Symlink("releases/nowhere", filepath.Join(z.root, ".current.tmp-abc123"))
	if _, err := z.apply(z.build("1.0.0", "true", 1)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(z.root, "releases", ".1.0.0.tmp-abc123"), filepath.Join(z.root, ".current.tmp-abc123")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s left in place", p)
		}
	}
}

// TestMissingInput: a bundle or a --var-file that is not there is a
// mistake in what was typed, as verify says too (exit 1): apply and plan
// return ErrNoInput, and apply records nothing — no receipt, no journal.
func TestMissingInput(t *testing.T) {
	z := newZone(t)
	good := z.build("1.0.0", "true", 1)
	before := len(z.chainAll())
	for _, tt := range []struct {
		name         string
		bundle, vars string
	}{
		{"bundle", filepath.Join(z.dir, "no-such-bundle"), ""},
		{"var-file", good, filepath.Join(z.dir, "no-such-vars.yaml")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := z.apply(tt.bundle, func(o *Options) { o.VarFile = tt.vars })
			if !errors.Is(err, ErrNoInput) || res != nil {
				t.Fatalf("apply: %+v, %v; want ErrNoInput and no result", res, err)
			}
			o := z.opts(tt.bundle)
			o.VarFile = tt.vars
			if _, err := MakePlan(t.Context(), o); !errors.Is(err, ErrNoInput) {
				t.Fatalf("plan: %v; want ErrNoInput", err)
			}
			if n := len(z.chainAll()); n != before {
				t.Fatalf("%d receipts, want %d: a receipt was written for a missing input", n, before)
			}
			if _, err := os.Stat(filepath.Join(z.trust.StateDir, "journal.json")); !os.IsNotExist(err) {
				t.Fatalf("journal left: %v", err)
			}
		})
	}
}
