//go:build unix

package apply

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// The secrets of the realistic release: every character that breaks JSON,
// XML, YAML or .properties when written raw, and text beyond ASCII.
const (
	configSecret = `pa"ss&<w>'o\rd ünï€😀`
	zoneSecret   = `zone-"&<>'\-ß✓`
)

// configRelease is a release whose package holds JSON, YAML, XML and
// .properties configuration: #{…} substitution with a filter, structured
// replacement by key path and files rules, deployed by the steps given.
func configRelease(steps string) string {
	return `apiVersion: airlock/v1
name: payments
version: "1.0.0"
channel: stable
targets: [zone:test]
expires: 24h
change: { ticket: CHG-10, reason: test }
packages:
  - name: app
    path: app
variables:
  Root: /nonexistent
  Marker: /nonexistent
  DbPassword: { sensitive: true, fromEnv: SHOP_SECRET }
  "Logging:LogLevel:Default": Debug
  "Kestrel:Limits:MaxConcurrentConnections": "250"
  "Features:Refunds": "true"
  "database:password": { sensitive: true, fromEnv: SHOP_SECRET }
  "database:port": "5432"
  "/configuration/appSettings/add[@key='DbPassword']/@value": { sensitive: true, fromEnv: SHOP_SECRET }
  "/configuration/appSettings/add[@key='Mode']/@value": live
  db.password: { sensitive: true, fromEnv: SHOP_SECRET }
  db.pool.size: "20"
steps:
` + steps
}

// configDeploy is a deploy step of the config release to target.
func configDeploy(name, target, rules string) string {
	return fmt.Sprintf(`  - name: %s
    deploy: app
    to: %q
    substitute: ["config/appsettings.json", "bin/*"]
    structured: ["config/*.{json,yaml,properties}", "web.config"]
%s`, name, target, rules)
}

const configRules = `    files:
      - { match: "config/**", mode: "0640" }
      - { match: "static/**", mode: "0644" }
`

func configFiles() map[string]string {
	return map[string]string{
		"app/config/appsettings.json": `{
  "ConnectionStrings": { "Payments": "Host=db;Password=#{DbPassword | JsonEscape}" },
  "Logging": { "LogLevel": { "Default": "Warning" } },
  "Kestrel": { "Limits": { "MaxConcurrentConnections": 100 } },
  "Features": { "Refunds": false }
}
`,
		"app/config/app.yaml":       "database:\n  host: db.internal\n  password: changeme\n  port: 5432\n",
		"app/config/app.properties": "# payments\ndb.password=changeme\ndb.pool.size=5\n",
		"app/web.config": `<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <appSettings>
    <add key="DbPassword" value="changeme" />
    <add key="Mode" value="test" />
  </appSettings>
</configuration>
`,
		"app/bin/run":           "#!/bin/sh\nDB_PASSWORD='#{DbPassword}' exec ./payments\n",
		"app/static/index.html": "<p>payments</p>\n",
	}
}

// configZone is a zone whose trust.yaml replaces two values the bundle
// signs: db.password from a file kept in the zone, database:port with a
// literal.
func configZone(t *testing.T) *testZone {
	z := newZone(t)
	secrets := filepath.Join(z.dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "db"), []byte(zoneSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	z.editTrust(func(s string) string {
		return s + "  db.password: { fromFile: secrets/db }\n  \"database:port\": \"6432\"\n"
	})
	z.commit()
	return z
}

// TestDeployRealisticConfig: a release with JSON, YAML, XML and .properties
// configuration deploys valid files — parsed back here — with the values
// of the bundle and of the zone, their types kept, and the modes its rules
// and its secrets ask for; the receipt records each file's mode and the
// source of each value the zone replaced, never a value. Both ways a
// package is deployed: moved from staging, and copied (deployed twice).
func TestDeployRealisticConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []string
	}{
		{"moved", []string{"#{Root}"}},
		{"copied", []string{"#{Root}", "#{Root}-copy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := configZone(t)
			var steps string
			for i, target := range tc.targets {
				steps += configDeploy(fmt.Sprintf("install %d", i+1), target, configRules)
			}
			dir, _ := z.f.Build(bundletest.Options{YAML: configRelease(steps), Files: configFiles(), Sequence: 1, Secret: configSecret})
			res, err := z.apply(dir)
			if err != nil {
				t.Fatalf("%v\n%s", err, z.out.String())
			}
			p := z.receipt(res)
			for i := range tc.targets {
				root := z.root
				if i == 1 {
					root += "-copy"
				}
				checkConfigRelease(t, filepath.Join(root, "current"))
			}
			checkReceiptModes(t, p, len(tc.targets)*len(configFiles()))
			checkConfigSources(t, z, p)
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{configSecret, zoneSecret} {
				if strings.Contains(string(data), s) || strings.Contains(z.out.String(), s) {
					t.Errorf("a secret is in the receipt or the output")
				}
			}
			for _, name := range []string{"Logging:LogLevel:Default", "db.password", "DbPassword"} {
				if !strings.Contains(strings.Join(p.Variables, "\n"), name) {
					t.Errorf("receipt variables %q lack %s", p.Variables, name)
				}
			}
		})
	}
}

// checkConfigRelease parses the deployed configuration back and checks
// its values, their types and the files' modes.
func checkConfigRelease(t *testing.T, dir string) {
	t.Helper()
	read := func(rel string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var settings struct {
		ConnectionStrings struct{ Payments string }
		Logging           struct{ LogLevel struct{ Default string } }
		Kestrel           struct {
			Limits struct{ MaxConcurrentConnections any }
		}
		Features struct{ Refunds any }
	}
	if err := json.Unmarshal(read("config/appsettings.json"), &settings); err != nil {
		t.Fatalf("appsettings.json is not valid JSON: %v\n%s", err, read("config/appsettings.json"))
	}
	if settings.ConnectionStrings.Payments != "Host=db;Password="+configSecret || settings.Logging.LogLevel.Default != "Debug" ||
		settings.Kestrel.Limits.MaxConcurrentConnections != float64(250) || settings.Features.Refunds != true {
		t.Errorf("appsettings.json: %+v", settings)
	}
	var app struct {
		Database struct {
			Host     string
			Password string
			Port     any
		}
	}
	if err := yaml.Unmarshal(read("config/app.yaml"), &app); err != nil {
		t.Fatalf("app.yaml is not valid YAML: %v", err)
	}
	if app.Database.Password != configSecret || app.Database.Port != 6432 || app.Database.Host != "db.internal" {
		t.Errorf("app.yaml: %+v", app)
	}
	var web struct {
		Add []struct {
			Key   string `xml:"key,attr"`
			Value string `xml:"value,attr"`
		} `xml:"appSettings>add"`
	}
	if err := xml.Unmarshal(read("web.config"), &web); err != nil {
		t.Fatalf("web.config is not valid XML: %v", err)
	}
	if len(web.Add) != 2 || web.Add[0].Value != configSecret || web.Add[1].Value != "live" {
		t.Errorf("web.config: %+v", web.Add)
	}
	props := readJavaProperties(t, read("config/app.properties"))
	if props["db.password"] != zoneSecret || props["db.pool.size"] != "20" {
		t.Errorf("app.properties: %q", props)
	}
	if got := string(read("bin/run")); !strings.Contains(got, configSecret) {
		t.Errorf("bin/run was not substituted: %q", got)
	}
	for rel, want := range map[string]os.FileMode{
		"config/appsettings.json": 0o640, // a rule: group may read
		"config/app.yaml":         0o640,
		"config/app.properties":   0o640,
		"web.config":              0o600, // a secret, no rule: the owner only
		"bin/run":                 0o700, // a secret in an executable
		"static/index.html":       0o644,
	} {
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", rel, fi.Mode().Perm(), want)
		}
	}
}

// checkReceiptModes: the receipt lists n files, each with the mode it has
// on disk.
func checkReceiptModes(t *testing.T, p *receipt.Predicate, n int) {
	t.Helper()
	if len(p.Files) != n {
		t.Fatalf("receipt lists %d files, want %d", len(p.Files), n)
	}
	for _, f := range p.Files {
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%04o", uint32(fi.Mode().Perm())); f.Mode != want {
			t.Errorf("receipt: %s mode %q, on disk %s", f.Path, f.Mode, want)
		}
		if f.Owner != "" || f.Group != "" {
			t.Errorf("receipt: %s owner %q group %q, but no rule set them", f.Path, f.Owner, f.Group)
		}
	}
}

// checkConfigSources: the receipt names where each value came from, and
// which values the zone replaced.
func checkConfigSources(t *testing.T, z *testZone, p *receipt.Predicate) {
	t.Helper()
	got := map[string]receipt.VariableSource{}
	for _, s := range p.VariableSources {
		got[s.Name] = s
	}
	if len(got) != 12 {
		t.Errorf("receipt names the sources of %d variables, want 12: %+v", len(got), p.VariableSources)
	}
	trust := filepath.Join(z.dir, "trust.yaml")
	for name, want := range map[string]receipt.VariableSource{
		"DbPassword":    {Name: "DbPassword", Origin: receipt.OriginBundle},
		"db.pool.size":  {Name: "db.pool.size", Origin: receipt.OriginBundle},
		"database:port": {Name: "database:port", Origin: receipt.OriginTrust, File: trust, SHA256: z.trust.SHA256, Replaced: true},
		"db.password": {Name: "db.password", Origin: receipt.OriginTrust, File: trust, SHA256: z.trust.SHA256,
			FromFile: filepath.Join(z.dir, "secrets", "db"), Replaced: true},
		"Root": {Name: "Root", Origin: receipt.OriginTrust, File: trust, SHA256: z.trust.SHA256, Replaced: true},
	} {
		if got[name] != want {
			t.Errorf("source of %s: %+v, want %+v", name, got[name], want)
		}
	}
}

// readJavaProperties reads key=value lines as java.util.Properties reads
// their escapes (\\, \uXXXX with UTF-16 pairs, \t \n \r \f, \c for c).
func readJavaProperties(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var units []uint16
		for i := 0; i < len(v); i++ {
			if v[i] != '\\' || i+1 == len(v) {
				units = append(units, utf16.Encode([]rune(string(v[i])))...)
				continue
			}
			i++
			switch c := v[i]; c {
			case 'u':
				n, err := strconv.ParseUint(v[i+1:i+5], 16, 16)
				if err != nil {
					t.Fatalf("app.properties: %v", err)
				}
				units, i = append(units, uint16(n)), i+4
			case 't', 'n', 'r', 'f':
				units = append(units, uint16(map[byte]rune{'t': '\t', 'n': '\n', 'r': '\r', 'f': '\f'}[c]))
			default:
				units = append(units, uint16(c))
			}
		}
		out[k] = string(utf16.Decode(units))
	}
	return out
}

// TestDeployConfigParseError: a file that does not parse after
// substitution — a secret written into JSON without JsonEscape — fails the
// deploy before the release switch, naming the file, and the secret is
// not in the receipt.
func TestDeployConfigParseError(t *testing.T) {
	z := configZone(t)
	files := configFiles()
	files["app/config/appsettings.json"] = strings.Replace(files["app/config/appsettings.json"], "#{DbPassword | JsonEscape}", "#{DbPassword}", 1)
	dir, _ := z.f.Build(bundletest.Options{YAML: configRelease(configDeploy("install", "#{Root}", configRules)), Files: files, Sequence: 1, Secret: configSecret})
	res, err := z.apply(dir)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want the deploy step to fail", err)
	}
	p := z.receipt(res)
	s := stepNamed(t, p, "install")
	if !strings.Contains(s.Error, "config/appsettings.json:2:") {
		t.Errorf("install: error %q does not name the file and line", s.Error)
	}
	if z.current() != "" {
		t.Errorf("current is %q, want no release switched to", z.current())
	}
	if ents, _ := os.ReadDir(filepath.Join(z.root, "releases")); len(ents) != 0 {
		t.Errorf("releases left behind: %v", ents)
	}
	data, _ := json.Marshal(p)
	if strings.Contains(string(data), configSecret) || strings.Contains(z.out.String(), configSecret) {
		t.Error("the secret is in the receipt or the output")
	}
}

// TestDeployFilesOwner: files rules give files to a user and a group, by
// name and by number; the receipt records them as the rules name them. An
// unknown user fails the step before anything is written.
func TestDeployFilesOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("AIRLOCK_REQUIRE_ROOT") == "1" {
			t.Fatal("giving files to another user needs root (AIRLOCK_REQUIRE_ROOT=1)")
		}
		t.Skip("giving files to another user needs root (CI runs this test as root)")
	}
	grp, err := user.LookupGroupId("0")
	if err != nil {
		t.Fatal(err)
	}
	z := configZone(t)
	rules := configRules + `      - { match: "config/app.yaml", owner: "4242", group: "4343" }
      - { match: "web.config", owner: root, group: ` + grp.Name + ` }
`
	dir, _ := z.f.Build(bundletest.Options{YAML: configRelease(configDeploy("install", "#{Root}", rules)), Files: configFiles(), Sequence: 1, Secret: configSecret})
	res, err := z.apply(dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	owners := map[string][2]string{}
	for _, f := range z.receipt(res).Files {
		owners[filepath.Base(f.Path)] = [2]string{f.Owner, f.Group}
	}
	for name, want := range map[string]struct {
		owner, group string
		uid, gid     int
	}{
		"app.yaml":         {"4242", "4343", 4242, 4343},
		"web.config":       {"root", grp.Name, 0, 0},
		"app.properties":   {"", "", 0, 0},
		"appsettings.json": {"", "", 0, 0},
		"index.html":       {"", "", 0, 0},
		"run":              {"", "", 0, 0},
	} {
		if got := owners[name]; got != [2]string{want.owner, want.group} {
			t.Errorf("receipt: %s owner and group %q, want %q %q", name, got, want.owner, want.group)
		}
		uid, gid := ownerOf(t, z, name)
		if uid != want.uid || gid != want.gid {
			t.Errorf("%s: owned by %d:%d, want %d:%d", name, uid, gid, want.uid, want.gid)
		}
	}

	z = configZone(t)
	rules = configRules + "      - { match: \"web.config\", owner: no-such-user-x }\n"
	dir, _ = z.f.Build(bundletest.Options{YAML: configRelease(configDeploy("install", "#{Root}", rules)), Files: configFiles(), Sequence: 1, Secret: configSecret})
	res, err = z.apply(dir)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want the deploy step to fail", err)
	}
	if s := stepNamed(t, z.receipt(res), "install"); !strings.Contains(s.Error, "files[2]: owner no-such-user-x") {
		t.Errorf("install: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(z.root, "releases")); !os.IsNotExist(err) {
		t.Errorf("the deploy target was written before the owner was found: %v", err)
	}
}

func ownerOf(t *testing.T, z *testZone, name string) (int, int) {
	t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(z.root, "current")+"/", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			found = p
		}
		return nil
	})
	fi, err := os.Stat(found)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
