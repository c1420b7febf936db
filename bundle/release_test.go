package bundle

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/release/bad")

// secretMarker appears in values of the bad manifests; no error may show it.
const secretMarker = "s3cr3t"

// releaseErrors returns the *ReleaseErrors joined in err.
func releaseErrors(t *testing.T, err error) []*ReleaseError {
	t.Helper()
	var list []error
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		list = joined.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]*ReleaseError, 0, len(list))
	for _, e := range list {
		var re *ReleaseError
		if !errors.As(e, &re) {
			t.Fatalf("error %v (%T) is not a *ReleaseError", e, e)
		}
		out = append(out, re)
	}
	return out
}

// checkGolden compares got with testdata/release/bad/name.golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden := filepath.Join("testdata", "release", "bad", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestReleaseBad -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("errors of %s differ from %s\n got:\n%s\nwant:\n%s", name, golden, got, want)
	}
}

func TestReleaseBad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "release", "bad", "*.yaml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("found %d bad cases (%v), want at least 20", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRelease(releaseFileName, src)
			if err == nil {
				t.Fatalf("ParseRelease accepted %s: %+v", file, r)
			}
			errs := releaseErrors(t, err)
			for i, e := range errs {
				if e.File != releaseFileName {
					t.Errorf("error %q: File = %q, want %q", e, e.File, releaseFileName)
				}
				if i > 0 && (e.Line < errs[i-1].Line || e.Line == errs[i-1].Line && e.Col < errs[i-1].Col) {
					t.Errorf("errors not sorted by position: %q after %q", e, errs[i-1])
				}
				if e.Msg == "" || e.Msg[:1] != strings.ToLower(e.Msg[:1]) {
					t.Errorf("error %q: message must start in lower case", e)
				}
			}
			if strings.Contains(err.Error(), secretMarker) {
				t.Errorf("error shows a variable's value:\n%s", err)
			}
			checkGolden(t, name, err.Error()+"\n")
		})
	}
}

func TestReleaseBadPositions(t *testing.T) {
	// Every problem of these files can be pinned to a line and column.
	for _, name := range []string{"unknown-key", "duplicate-key", "wrong-type", "bad-duration", "two-actions", "comment-ref"} {
		src, err := os.ReadFile(filepath.Join("testdata", "release", "bad", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseRelease(releaseFileName, src)
		for _, e := range releaseErrors(t, err) {
			if e.Line == 0 || e.Col == 0 {
				t.Errorf("%s: error %q has no line:column", name, e)
			}
		}
	}
}

func TestReleaseOversize(t *testing.T) {
	src := append([]byte("apiVersion: airlock/v1\n"), bytes.Repeat([]byte("# padding\n"), maxReleaseSize/10)...)
	if len(src) <= maxReleaseSize {
		t.Fatalf("test input is only %d bytes", len(src))
	}
	_, err := ParseRelease(releaseFileName, src)
	if err == nil {
		t.Fatal("ParseRelease accepted more than 1 MiB")
	}
	releaseErrors(t, err)
	checkGolden(t, "oversize", err.Error()+"\n")

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, releaseFileName), src, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadRelease(dir); err == nil || !strings.Contains(err.Error(), "larger than the 1 MiB limit") {
		t.Errorf("LoadRelease error = %v, want the size limit", err)
	}
}

func TestReleaseTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: airlock/v1\nname: x\nversion: \"1\"\ntargets: [zone:a]\npackages: []\nsteps:\n")
	for i := range 150 {
		b.WriteString("  - name: s" + strings.Repeat("x", i%3) + "\n    retries: 99\n")
	}
	_, err := ParseRelease(releaseFileName, []byte(b.String()))
	errs := releaseErrors(t, err)
	if len(errs) != maxReportedProblems+1 {
		t.Fatalf("got %d errors, want %d", len(errs), maxReportedProblems+1)
	}
	if last := errs[len(errs)-1].Error(); !strings.HasSuffix(last, "more problems not shown") {
		t.Errorf("last error = %q", last)
	}
}

func TestReleaseErrorFormat(t *testing.T) {
	tests := []struct {
		err  ReleaseError
		want string
	}{
		{ReleaseError{File: "airlock.yaml", Line: 12, Col: 5, Field: "steps[2].timeout", Msg: "bad"}, "airlock.yaml:12:5: steps[2].timeout: bad"},
		{ReleaseError{File: "airlock.yaml", Line: 3, Msg: "bad"}, "airlock.yaml:3: bad"},
		{ReleaseError{File: "airlock.yaml", Msg: "bad"}, "airlock.yaml: bad"},
		{ReleaseError{Field: "name", Msg: "bad"}, "name: bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// completeRelease is what testdata/release/good/complete.yaml decodes to.
func completeRelease() *Release {
	return &Release{
		File:       "complete.yaml",
		APIVersion: "airlock/v1",
		Name:       "payments-api",
		Version:    "2.4.1",
		Channel:    "production",
		Targets:    []string{"zone:pci-east", "zone:pci-west", "host:pay-01", "role:api"},
		Expires:    72 * time.Hour,
		Change:     Change{Ticket: "CHG-1234", Reason: "quarterly release"},
		Packages: []Package{
			{Name: "app", Kind: InputPath, Source: "dist/payments-api"},
			{Name: "tools", Kind: InputPath, Source: "tools/migrate.tar"},
		},
		Variables: []Variable{
			{Name: "LogLevel", Value: "info"},
			{Name: "Port", Value: "8080", Description: "HTTP port"},
			{Name: "Replicas", Value: "3"},
			{Name: "DbHost", Value: "db.internal", ByZone: map[string]string{"pci-west": "db-west.internal"},
				ByRole: map[string]string{"batch": "db-batch.internal"}, ByHost: map[string]string{"pay-01": "db-local.internal"}},
			{Name: "DbPassword", Sensitive: true, FromEnv: "PAYMENTS_DB_PASSWORD"},
			{Name: "ApiKey", Sensitive: true, FromFile: "secrets/api.key"},
			{Name: "Pepper", Sensitive: true, AllowLiteral: true, Value: "not-really-secret"},
		},
		Steps: []Step{
			{Name: "stop service", Run: "systemctl stop payments-api", Shell: "sh", When: "always",
				Timeout: Duration(15 * time.Minute), RetryDelay: Duration(5 * time.Second), ContinueOnError: true},
			{Name: "install", Deploy: "app", To: "/opt/payments-api", Substitute: Substitution{Globs: []string{"config/*.json", "*.conf"}},
				Keep: 5, When: "success", Timeout: Duration(15 * time.Minute), RetryDelay: Duration(5 * time.Second)},
			{Name: "migrate", Script: "scripts/migrate.sh", When: "success", Timeout: Duration(10 * time.Minute),
				Retries: 2, RetryDelay: Duration(30 * time.Second)},
			{Name: "smoke-test", Run: "curl -fsS http://localhost:#{Port}/health && echo #{Steps.migrate.RowCount}",
				Shell: "bash", When: "success", Timeout: Duration(90 * time.Second), RetryDelay: Duration(5 * time.Second)},
			{Name: "start service", Run: "systemctl start payments-api\necho \"started #{Airlock.Release.Version} in #{Airlock.Zone}\"\n",
				When: "success", Timeout: Duration(15 * time.Minute), RetryDelay: Duration(5 * time.Second)},
			{Name: "roll back", Script: "scripts/rollback.sh", When: "failure", Timeout: Duration(15 * time.Minute), RetryDelay: Duration(5 * time.Second)},
		},
	}
}

// configRelease is what testdata/release/good/config.yaml decodes to.
func configRelease() *Release {
	step := func(s Step) Step {
		s.When = cmp.Or(s.When, WhenSuccess)
		s.Timeout = cmp.Or(s.Timeout, Duration(DefaultTimeout))
		s.RetryDelay = Duration(DefaultRetryDelay)
		return s
	}
	return &Release{
		File: "config.yaml", APIVersion: "airlock/v1", Name: "payments-api", Version: "2.5.0",
		Channel: DefaultChannel, Targets: []string{"zone:pci-east"}, Expires: DefaultExpires,
		Packages: []Package{
			{Name: "app", Kind: InputArchive, Source: "dist/payments-api-2.5.0.zip"},
			{Name: "web", Kind: InputArchive, Source: "dist/Web.Portal.2.5.0.nupkg"},
		},
		Variables: []Variable{
			{Name: "DbPassword", Sensitive: true, FromEnv: "PAYMENTS_DB_PASSWORD"},
			{Name: "Logging:LogLevel:Default", Value: "Warning"},
			{Name: "spring.datasource.url", Value: "jdbc:postgresql://db/payments"},
			{Name: "/configuration/appSettings/add[@key='Mode']/@value", Value: "live"},
			{Name: "HealthPort", Value: "8443"},
		},
		Steps: []Step{
			step(Step{Name: "install", Deploy: "app", To: "/opt/payments-api", Keep: DefaultKeep,
				Substitute: Substitution{Globs: []string{"config/**/*.json"}},
				Structured: []string{"appsettings.json", "config/*.{yaml,properties}"},
				Files: []FileRule{
					{Match: "config/**", Mode: 0o640, Owner: "payments", Group: "payments"},
					{Match: "bin/*", Mode: 0o755},
				}}),
			step(Step{Name: "migrate", Script: "scripts/migrate.sh", Substitute: Substitution{Script: true}}),
			step(Step{Name: "healthy", Timeout: Duration(2 * time.Minute), Check: &HealthCheck{
				HTTP: "https://localhost:#{HealthPort}/health", Status: 200, Contains: `"status":"up"`,
				CAFile: "/etc/pki/payments/ca.pem", Timeout: Duration(2 * time.Minute), Interval: Duration(5 * time.Second)}}),
			step(Step{Name: "port open", When: WhenAlways, Timeout: Duration(DefaultHealthTimeout), Check: &HealthCheck{
				TCP: "db.internal:5432", Timeout: Duration(DefaultHealthTimeout), Interval: Duration(DefaultHealthInterval)}}),
		},
	}
}

func TestReleaseGood(t *testing.T) {
	tests := []struct {
		file string
		want *Release
	}{
		{"complete.yaml", completeRelease()},
		{"config.yaml", configRelease()},
		{"minimal.yaml", &Release{
			File: "minimal.yaml", APIVersion: "airlock/v1", Name: "hello", Version: "1.0",
			Channel: "default", Targets: []string{"zone:lab"}, Expires: 336 * time.Hour,
			Steps: []Step{{Name: "greet", Run: "echo hello", When: "success", Timeout: Duration(15 * time.Minute), RetryDelay: Duration(5 * time.Second)}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", "release", "good", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRelease(tt.file, src)
			if err != nil {
				t.Fatalf("ParseRelease: %v", err)
			}
			got.pos = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRelease =\n%+v\nwant\n%+v", got, tt.want)
			}
			assertRoundTrip(t, got)
		})
	}
}

// assertRoundTrip checks that r, written back as YAML, decodes to r again.
func assertRoundTrip(t *testing.T, r *Release) {
	t.Helper()
	src := encodeRelease(t, r)
	again, err := ParseRelease(r.File, src)
	if err != nil {
		t.Fatalf("re-encoded release rejected: %v\n%s", err, src)
	}
	want := *r
	want.pos, again.pos = nil, nil
	if !reflect.DeepEqual(again, &want) {
		t.Fatalf("round trip changed the release:\n got %+v\nwant %+v\n%s", again, &want, src)
	}
}

// encodeRelease writes r as airlock.yaml, every string double-quoted.
func encodeRelease(t *testing.T, r *Release) []byte {
	t.Helper()
	str := func(s string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
	}
	plain := func(tag, s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s} }
	dur := func(d time.Duration) *yaml.Node { return str(d.String()) }
	seq := func(items []string) *yaml.Node {
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range items {
			n.Content = append(n.Content, str(s))
		}
		return n
	}
	m := func(kv ...any) *yaml.Node {
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < len(kv); i += 2 {
			n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
		}
		return n
	}
	boolean := func(b bool) *yaml.Node { return plain("!!bool", map[bool]string{true: "true", false: "false"}[b]) }
	integer := func(i int) *yaml.Node { return plain("!!int", strconv.Itoa(i)) }

	pkgs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, p := range r.Packages {
		pkgs.Content = append(pkgs.Content, m("name", str(p.Name), inputKindOf(p.Kind).key, str(p.Source)))
	}
	vars := &yaml.Node{Kind: yaml.MappingNode}
	for _, v := range r.Variables {
		vn := m("sensitive", boolean(v.Sensitive), "allowLiteral", boolean(v.AllowLiteral), "description", str(v.Description))
		switch {
		case v.FromEnv != "":
			vn.Content = append(vn.Content, str("fromEnv"), str(v.FromEnv))
		case v.FromFile != "":
			vn.Content = append(vn.Content, str("fromFile"), str(v.FromFile))
		default:
			vn.Content = append(vn.Content, str("value"), str(v.Value))
		}
		for _, sc := range []struct {
			key    string
			values map[string]string
		}{{"byZone", v.ByZone}, {"byRole", v.ByRole}, {"byHost", v.ByHost}} {
			if len(sc.values) == 0 {
				continue
			}
			names := make([]string, 0, len(sc.values))
			for z := range sc.values {
				names = append(names, z)
			}
			sort.Strings(names)
			bz := &yaml.Node{Kind: yaml.MappingNode}
			for _, z := range names {
				bz.Content = append(bz.Content, str(z), str(sc.values[z]))
			}
			vn.Content = append(vn.Content, str(sc.key), bz)
		}
		vars.Content = append(vars.Content, str(v.Name), vn)
	}
	steps := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range r.Steps {
		sn := m("name", str(s.Name), "when", str(string(s.When)), "continueOnError", boolean(s.ContinueOnError))
		if s.Check == nil {
			sn.Content = append(sn.Content, str("timeout"), dur(time.Duration(s.Timeout)),
				str("retries"), integer(s.Retries), str("retryDelay"), dur(time.Duration(s.RetryDelay)))
		}
		switch {
		case s.Run != "":
			sn.Content = append(sn.Content, str("run"), str(s.Run))
		case s.Script != "":
			sn.Content = append(sn.Content, str("script"), str(s.Script), str("substitute"), boolean(s.Substitute.Script))
		case s.Check != nil:
			c := s.Check
			cn := m("timeout", dur(time.Duration(c.Timeout)), "interval", dur(time.Duration(c.Interval)))
			for _, kv := range [][2]string{{"http", c.HTTP}, {"tcp", c.TCP}, {"contains", c.Contains}, {"caFile", c.CAFile}} {
				if kv[1] != "" {
					cn.Content = append(cn.Content, str(kv[0]), str(kv[1]))
				}
			}
			if c.Status != 0 {
				cn.Content = append(cn.Content, str("status"), integer(c.Status))
			}
			sn.Content = append(sn.Content, str("check"), cn)
		default:
			sn.Content = append(sn.Content, str("deploy"), str(s.Deploy), str("to"), str(s.To), str("keep"), integer(s.Keep))
			if s.Substitute.Globs != nil {
				sn.Content = append(sn.Content, str("substitute"), seq(s.Substitute.Globs))
			}
			if s.Structured != nil {
				sn.Content = append(sn.Content, str("structured"), seq(s.Structured))
			}
			if s.Files != nil {
				rules := &yaml.Node{Kind: yaml.SequenceNode}
				for _, r := range s.Files {
					rn := m("match", str(r.Match))
					for _, kv := range [][2]string{{"owner", r.Owner}, {"group", r.Group}} {
						if kv[1] != "" {
							rn.Content = append(rn.Content, str(kv[0]), str(kv[1]))
						}
					}
					if r.Mode != 0 {
						rn.Content = append(rn.Content, str("mode"), str(r.Mode.String()))
					}
					rules.Content = append(rules.Content, rn)
				}
				sn.Content = append(sn.Content, str("files"), rules)
			}
		}
		if s.Shell != "" {
			sn.Content = append(sn.Content, str("shell"), str(s.Shell))
		}
		steps.Content = append(steps.Content, sn)
	}
	doc := m("apiVersion", str(r.APIVersion), "name", str(r.Name), "version", str(r.Version),
		"channel", str(r.Channel), "targets", seq(r.Targets), "expires", dur(r.Expires),
		"change", m("ticket", str(r.Change.Ticket), "reason", str(r.Change.Reason)),
		"packages", pkgs, "steps", steps)
	if len(r.Variables) > 0 {
		doc.Content = append(doc.Content, str("variables"), vars)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("encode release: %v", err)
	}
	return out
}

func TestReleaseLoad(t *testing.T) {
	dir := writeRelease(t, goodTree())
	for _, arg := range []string{dir, filepath.Join(dir, releaseFileName)} {
		r, err := LoadRelease(arg)
		if err != nil {
			t.Fatalf("LoadRelease(%s): %v", arg, err)
		}
		if r.File != filepath.Join(dir, releaseFileName) || r.Dir != dir || !filepath.IsAbs(r.Dir) {
			t.Errorf("LoadRelease(%s): File %q, Dir %q", arg, r.File, r.Dir)
		}
	}
	if _, err := LoadRelease(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadRelease(missing) = %v, want not exist", err)
	}
}

// goodTree is a release directory that passes Check.
func goodTree() map[string]string {
	return map[string]string{
		releaseFileName: `apiVersion: airlock/v1
name: payments-api
version: 2.4.1
targets: [zone:pci-east]
packages:
  - name: app
    path: dist/app
  - name: single
    path: dist/single.conf
variables:
  Port: 8080
steps:
  - name: migrate
    script: scripts/migrate.sh
  - name: install
    deploy: app
    to: "/opt/app/#{Airlock.Release.Version}"
    substitute: ["config/*.json"]
  - name: single
    deploy: single
    to: /etc/app
    substitute: ["*.conf"]
  - name: smoke
    run: "curl localhost:#{Port} && echo #{Steps.migrate.Rows} #{Airlock.Zone}"
`,
		"dist/app/config/app.json":  "{\n  \"port\": \"#{Port}\",\n  \"literal\": \"##{x}\", \"rows\": \"#{Steps.migrate.Rows}\"\n}\n",
		"dist/app/config/other.txt": "#{Not checked: not matched by a glob",
		"dist/app/bin/app":          "\x00\x01binary #{",
		"dist/single.conf":          "port=#{Port}\n",
		"scripts/migrate.sh":        "#!/bin/sh\necho Rows=3\n",
	}
}

// writeRelease writes files (slash paths → content) into a new directory.
func writeRelease(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// symlink makes a symbolic link or skips the test where that is not possible.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot make symbolic links here: %v", err)
	}
}

// loadErrors runs LoadRelease on dir and returns its error text with dir
// replaced by $DIR.
func loadErrors(t *testing.T, dir string) string {
	t.Helper()
	_, err := LoadRelease(dir)
	if err == nil {
		return ""
	}
	releaseErrors(t, err)
	return strings.ReplaceAll(filepath.ToSlash(err.Error()), filepath.ToSlash(dir), "$DIR")
}

func TestReleaseCheck(t *testing.T) {
	const yamlPath = "$DIR/airlock.yaml"
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string, files map[string]string)
		files map[string]string // changes to goodTree; "" removes a file
		want  string
	}{
		{name: "good"},
		{
			name: "symlink on the path inside the directory",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				if err := os.Rename(filepath.Join(dir, "scripts"), filepath.Join(dir, "real-scripts")); err != nil {
					t.Fatal(err)
				}
				symlink(t, "real-scripts", filepath.Join(dir, "scripts"))
			},
		},
		{
			name: "symlink escaping",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				outside := t.TempDir()
				if err := os.WriteFile(filepath.Join(outside, "migrate.sh"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "scripts")); err != nil {
					t.Fatal(err)
				}
				symlink(t, outside, filepath.Join(dir, "scripts"))
			},
			want: yamlPath + `:14:13: steps[0].script: "scripts/migrate.sh" leads outside the release directory through a symbolic link`,
		},
		{
			name: "symlink inside package",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				symlink(t, "app.json", filepath.Join(dir, "dist", "app", "config", "link.json"))
			},
			want: yamlPath + `:7:11: packages[0].path: "dist/app/config/link.json" is a symbolic link: packages hold only regular files and directories`,
		},
		{
			name: "missing script",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				if err := os.Remove(filepath.Join(dir, "scripts", "migrate.sh")); err != nil {
					t.Fatal(err)
				}
			},
			want: yamlPath + `:14:13: steps[0].script: "scripts/migrate.sh" does not exist`,
		},
		{
			name: "script is a directory",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				p := filepath.Join(dir, "scripts", "migrate.sh")
				if err := os.Remove(p); err != nil || os.Mkdir(p, 0o755) != nil {
					t.Fatal(err)
				}
			},
			want: yamlPath + `:14:13: steps[0].script: "scripts/migrate.sh" is not a regular file`,
		},
		{
			name: "missing package",
			edit: func(t *testing.T, dir string, _ map[string]string) {
				if err := os.Remove(filepath.Join(dir, "dist", "single.conf")); err != nil {
					t.Fatal(err)
				}
			},
			want: yamlPath + `:9:11: packages[1].path: "dist/single.conf" does not exist`,
		},
		{
			name:  "unresolved reference in a substituted file",
			files: map[string]string{"dist/app/config/db.json": "{\n  \"host\": \"#{Missing}\",\n  \"port\": #{Prot}\n}\n"},
			want: "$DIR/dist/app/config/db.json:2:12: steps[1].substitute[0]: unresolved reference #{Missing}: not a declared variable, a built-in or an earlier step's output\n" +
				"$DIR/dist/app/config/db.json:3:11: steps[1].substitute[0]: unresolved reference #{Prot} (did you mean #{Port}?)",
		},
		{
			name:  "syntax error in a substituted file",
			files: map[string]string{"dist/single.conf": "a=1\nport=#{Port\n"},
			want:  `$DIR/dist/single.conf:2:6: steps[2].substitute[0]: unterminated reference "#{Port"`,
		},
		{
			name:  "later step output in a substituted file",
			files: map[string]string{"dist/single.conf": "#{Steps.smoke.Out} #{Steps.single.Out} #{Steps.nope.Out} #{Steps.migrate}"},
			want: `$DIR/dist/single.conf:1:1: steps[2].substitute[0]: reference #{Steps.smoke.Out} names step "smoke", which runs later (only earlier steps' outputs can be used)` + "\n" +
				`$DIR/dist/single.conf:1:20: steps[2].substitute[0]: reference #{Steps.single.Out} names this step's own output (only earlier steps' outputs can be used)` + "\n" +
				`$DIR/dist/single.conf:1:40: steps[2].substitute[0]: reference #{Steps.nope.Out} names no step "nope"` + "\n" +
				`$DIR/dist/single.conf:1:58: steps[2].substitute[0]: reference #{Steps.migrate} names no output (want #{Steps.<step>.<output>})`,
		},
		{
			name: "references in run and to",
			files: map[string]string{releaseFileName: strings.Replace(strings.Replace(goodTree()[releaseFileName],
				`echo #{Steps.migrate.Rows}`, `echo #{Steps.smoke.Rows} #{Secret}`, 1),
				`to: /etc/app`, `to: "/etc/\u0023{Nope}"`, 1)},
			want: yamlPath + `:21:9: steps[2].to: unresolved reference #{Nope}: not a declared variable, a built-in or an earlier step's output (at 1:6 of the value)` + "\n" +
				yamlPath + `:24:42: steps[3].run: reference #{Steps.smoke.Rows} names this step's own output (only earlier steps' outputs can be used)` + "\n" +
				yamlPath + `:24:62: steps[3].run: unresolved reference #{Secret}: not a declared variable, a built-in or an earlier step's output`,
		},
		{
			name: "double star reaches nested files",
			files: map[string]string{
				releaseFileName:                 strings.Replace(goodTree()[releaseFileName], `["config/*.json"]`, `["config/**/*.json"]`, 1),
				"dist/app/config/a/b/deep.json": "{\"x\": \"#{Nope}\"}",
			},
			want: "$DIR/dist/app/config/a/b/deep.json:1:8: steps[1].substitute[0]: unresolved reference #{Nope}: not a declared variable, a built-in or an earlier step's output",
		},
		{
			name: "structured and files globs matching nothing",
			files: map[string]string{releaseFileName: strings.Replace(goodTree()[releaseFileName], `    substitute: ["config/*.json"]`,
				"    substitute: [\"config/*.json\"]\n    structured: [\"config/*.json\", \"*.yaml\"]\n    files: [{match: \"bin/*\", mode: \"0755\"}, {match: \"secrets/**\", mode: \"0600\"}]", 1)},
			want: yamlPath + `:19:35: steps[1].structured[1]: pattern "*.yaml" matches no file of package "app"` + "\n" +
				yamlPath + `:20:53: steps[1].files[1].match: pattern "secrets/**" matches no file of package "app"`,
		},
		{
			name: "structured files that do not parse",
			files: map[string]string{
				releaseFileName: strings.Replace(goodTree()[releaseFileName], `    substitute: ["config/*.json"]`,
					"    substitute: [\"config/*.json\"]\n    structured: [\"config/*.json\", \"settings/*\"]", 1),
				"dist/app/settings/broken.json": "{\n  \"a\": 1,\n}\n",
				"dist/app/settings/good.yaml":   "a: 1\n",
				"dist/app/settings/notes.txt":   "plain text\n",
			},
			want: "$DIR/dist/app/settings/broken.json:2:9: steps[1].structured[1]: invalid character ',' at start of value\n" +
				"$DIR/dist/app/settings/notes.txt: steps[1].structured[1]: unknown configuration format (want .json, .yaml, .yml, .xml, .config, .properties or .ini, or JSON content)",
		},
		{
			name: "structured files past the limits that apply would refuse",
			files: map[string]string{
				releaseFileName: strings.Replace(goodTree()[releaseFileName], `    substitute: ["config/*.json"]`,
					"    substitute: [\"config/*.json\"]\n    structured: [\"config/*.json\", \"settings/*\"]", 1),
				"dist/app/settings/deep.xml": "<r>\n" + strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300) + "</r>\n",
			},
			want: "$DIR/dist/app/settings/deep.xml:2: steps[1].structured[1]: nested more than 256 levels deep (the depth limit of structured replacement)",
		},
		{
			name: "a substituted script is checked",
			files: map[string]string{
				releaseFileName:      strings.Replace(goodTree()[releaseFileName], "script: scripts/migrate.sh", "script: scripts/migrate.sh\n    substitute: true", 1),
				"scripts/migrate.sh": "#!/bin/sh\necho #{Port} #{Airlock.Zone} #{Prot}\n",
			},
			want: "$DIR/scripts/migrate.sh:2:30: steps[0].substitute: unresolved reference #{Prot} (did you mean #{Port}?)",
		},
		{
			name: "references of a check",
			files: map[string]string{releaseFileName: goodTree()[releaseFileName] +
				"  - name: healthy\n    check: { http: \"http://localhost:#{Prot}/health\", contains: \"#{Airlock.Release.Version}\" }\n"},
			want: yamlPath + `:26:38: steps[4].check.http: unresolved reference #{Prot} (did you mean #{Port}?)`,
		},
		{
			name:  "glob matching nothing",
			files: map[string]string{releaseFileName: strings.Replace(goodTree()[releaseFileName], `["config/*.json"]`, `["config/*.json", "*.yml"]`, 1)},
			want:  yamlPath + `:18:35: steps[1].substitute[1]: pattern "*.yml" matches no file of package "app"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := goodTree()
			for name, content := range tt.files {
				files[name] = content
			}
			dir := writeRelease(t, files)
			if tt.edit != nil {
				tt.edit(t, dir, files)
			}
			if got := loadErrors(t, dir); got != tt.want {
				t.Errorf("LoadRelease errors\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestReleaseCheckPackageEscapes(t *testing.T) {
	dir := writeRelease(t, goodTree())
	outside := t.TempDir()
	if err := os.RemoveAll(filepath.Join(dir, "dist", "app")); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(dir, "dist", "app"))
	want := `$DIR/airlock.yaml:7:11: packages[0].path: "dist/app" leads outside the release directory through a symbolic link`
	if got := loadErrors(t, dir); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestReleaseCheckFIFO(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system on windows")
	}
	mkfifo, err := exec.LookPath("mkfifo")
	if err != nil {
		t.Skip("mkfifo not found")
	}
	dir := writeRelease(t, goodTree())
	if out, err := exec.Command(mkfifo, filepath.Join(dir, "dist", "app", "pipe")).CombinedOutput(); err != nil {
		t.Fatalf("mkfifo: %v: %s", err, out)
	}
	want := `$DIR/airlock.yaml:7:11: packages[0].path: "dist/app/pipe" is a named pipe: packages hold only regular files and directories`
	if got := loadErrors(t, dir); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestReleaseCheckWithoutParse(t *testing.T) {
	// A Release built in code has no positions; Check still finds problems.
	dir := writeRelease(t, map[string]string{"pkg/a.txt": "#{X}"})
	r := &Release{
		Dir:      dir,
		Packages: []Package{{Name: "p", Kind: InputPath, Source: "pkg"}, {Name: "bad", Kind: InputPath, Source: "../x"}},
		Steps: []Step{
			{Name: "d", Deploy: "p", To: "/x", Substitute: Substitution{Globs: []string{"*.txt"}}},
			{Name: "r", Run: "echo #{Y}"},
		},
	}
	err := r.Check()
	got := strings.ReplaceAll(filepath.ToSlash(err.Error()), filepath.ToSlash(dir), "$DIR")
	want := strings.Join([]string{
		`packages[1].path: "../x" leaves the release directory (".." is not allowed)`,
		`steps[1].run: unresolved reference #{Y}: not a declared variable, a built-in or an earlier step's output (at 1:6 of the value)`,
		`$DIR/pkg/a.txt:1:1: steps[0].substitute[0]: unresolved reference #{X}: not a declared variable, a built-in or an earlier step's output`,
	}, "\n")
	if got != want {
		t.Errorf("Check errors\n got: %s\nwant: %s", got, want)
	}
}

func TestReleaseResolveValues(t *testing.T) {
	dir := writeRelease(t, map[string]string{
		"secrets/api.key":  "key-" + secretMarker + "\n",
		"secrets/crlf.key": "crlf\r\n",
		"secrets/two.key":  "two\n\n",
		"secrets/big.key":  strings.Repeat("x", maxValueFileSize+1),
	})
	src := `apiVersion: airlock/v1
name: x
version: "1"
targets: [zone:a]
packages: []
variables:
  Plain: hello
  Empty: ""
  Env: { fromEnv: APP_ENV }
  Key: { sensitive: true, fromFile: secrets/api.key }
  Crlf: { fromFile: secrets/crlf.key }
  Two: { fromFile: secrets/two.key }
steps:
  - name: s
    run: "true"
`
	r, err := ParseRelease(filepath.Join(dir, releaseFileName), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r.Dir = dir
	env := map[string]string{"APP_ENV": "from-env-" + secretMarker}
	got, err := r.ResolveValues(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Plain": "hello", "Empty": "", "Env": "from-env-" + secretMarker,
		"Key": "key-" + secretMarker, "Crlf": "crlf", "Two": "two\n"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveValues = %q, want %q", got, want)
	}

	r.Variables[3].FromFile = "secrets/big.key"
	r.Variables[4].FromFile = "secrets/missing.key"
	_, err = r.ResolveValues(func(string) string { return "" })
	if err == nil {
		t.Fatal("ResolveValues accepted a missing environment variable")
	}
	msg := strings.ReplaceAll(filepath.ToSlash(err.Error()), filepath.ToSlash(dir), "$DIR")
	wantMsg := strings.Join([]string{
		`$DIR/airlock.yaml:9:19: variables.Env.fromEnv: environment variable APP_ENV is not set or is empty`,
		`$DIR/airlock.yaml:10:37: variables.Key.fromFile: $DIR/secrets/big.key is larger than the 1 MiB limit for a value`,
		`$DIR/airlock.yaml:11:21: variables.Crlf.fromFile: open $DIR/secrets/missing.key: no such file or directory`,
	}, "\n")
	if msg != wantMsg {
		t.Errorf("ResolveValues error\n got: %s\nwant: %s", msg, wantMsg)
	}
	if strings.Contains(err.Error(), secretMarker) {
		t.Errorf("error shows a value: %v", err)
	}
	releaseErrors(t, err)
}

func FuzzParseRelease(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "release", dir, "*.yaml"))
		for _, file := range files {
			src, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := ParseRelease(releaseFileName, src)
		if err != nil {
			for _, e := range releaseErrors(t, err) {
				if e.File != releaseFileName || e.Msg == "" {
					t.Fatalf("malformed error %#v", e)
				}
			}
			return
		}
		if r.APIVersion != releaseAPIVersion || len(r.Steps) == 0 || len(zonesOf(r.Targets)) == 0 {
			t.Fatalf("accepted an invalid release: %+v", r)
		}
		assertRoundTrip(t, r)
	})
}
