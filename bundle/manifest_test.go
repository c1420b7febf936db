package bundle

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedManifest is a valid manifest with one package "app" and the script
// scripts/preflight.sh, with steps replaced by steps (JSON).
func seedManifest(t *testing.T, steps string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "seed", "manifest-payments.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["steps"] = json.RawMessage(steps)
	doc["formatVersion"] = json.RawMessage("2")
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestManifestStepRules: the rules of the version 2 step keys hold for a
// manifest as they do for airlock.yaml.
func TestManifestStepRules(t *testing.T) {
	const common = `"when": "success", "timeout": "15m0s", "retries": 0, "retryDelay": "5s"`
	const check = `"when": "success", "timeout": "1m0s", "retries": 0, "retryDelay": "5s"`
	tests := []struct {
		name, step, want string // want: "" accepts, else a part of the error
	}{
		{"deploy with v2 keys", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "substitute": ["config/**/*.json"],
			"structured": ["*.json"], "files": [{"match": "config/**", "mode": "0640", "owner": "pay", "group": "1001"}], ` + common + `}`, ""},
		{"script substituted", `{"name": "s", "script": "scripts/preflight.sh", "substitute": true, ` + common + `}`, ""},
		{"http check", `{"name": "c", "check": {"http": "https://#{Host}:8443/health", "status": 200, "caFile": "/etc/ca.pem", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, ""},
		{"tcp check", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, ""},
		{"script substitute list", `{"name": "s", "script": "scripts/preflight.sh", "substitute": ["*.sh"], ` + common + `}`, "want true for a script step"},
		{"deploy substitute true", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "substitute": true, ` + common + `}`, "want a list of globs"},
		{"substitute false", `{"name": "s", "script": "scripts/preflight.sh", "substitute": false, ` + common + `}`, "want true or a list of globs"},
		{"run substitute", `{"name": "r", "run": "x", "substitute": true, ` + common + `}`, "only allowed with script or deploy"},
		{"run structured", `{"name": "r", "run": "x", "structured": ["*.json"], ` + common + `}`, "only allowed with deploy"},
		{"bad structured glob", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "structured": ["../x"], ` + common + `}`, `structured pattern "../x"`},
		{"bad substitute glob", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "substitute": ["/etc/*"], ` + common + `}`, `substitute pattern "/etc/*"`},
		{"setuid rule", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "files": [{"match": "bin/*", "mode": "4755"}], ` + common + `}`, "files[0]: mode"},
		{"empty rule", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "files": [{"match": "bin/*"}], ` + common + `}`, "want at least one of mode, owner and group"},
		{"bad owner", `{"name": "d", "deploy": "app", "to": "/opt/app", "keep": 3, "files": [{"match": "bin/*", "owner": "a b"}], ` + common + `}`, "invalid owner"},
		{"check with shell", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, "shell": "sh", ` + check + `}`, "shell: only allowed with run or script"},
		{"check timeout differs", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, ` + common + `}`, "takes its timeout from check.timeout"},
		{"check retries", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, "when": "success", "timeout": "1m0s", "retries": 1, "retryDelay": "5s"}`, "no retries"},
		{"check http and tcp", `{"name": "c", "check": {"http": "http://a/", "tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, "mutually exclusive"},
		{"check bad url", `{"name": "c", "check": {"http": "file:///etc/passwd", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, "is not an http:// or https:// URL"},
		{"check interval", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2m0s"}, ` + check + `}`, "interval"},
		{"check control character", `{"name": "c", "check": {"http": "http://a/\u001b[2J", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, "control characters"},
		{"check unknown field", `{"name": "c", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s", "insecure": true}, ` + check + `}`, "insecure"},
		{"two kinds", `{"name": "c", "run": "x", "check": {"tcp": "db:5432", "timeout": "1m0s", "interval": "2s"}, ` + check + `}`, "want exactly one of run, script, deploy, check or push"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(seedManifest(t, "["+tt.step+"]"))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("ParseManifest: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("ParseManifest accepted %s", tt.step)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("ParseManifest: %v, want an error containing %q", err, tt.want)
			case err == nil:
				out, err := MarshalManifest(m)
				if err != nil {
					t.Fatal(err)
				}
				again, err := ParseManifest(out)
				if err != nil {
					t.Fatalf("re-encoded manifest rejected: %v", err)
				}
				if got, want := mustJSON(t, again.Steps), mustJSON(t, m.Steps); got != want {
					t.Fatalf("steps changed in a round trip:\n%s\n%s", got, want)
				}
			}
		})
	}
}

// TestManifestV1Substitute: a format 1 manifest's substitute list decodes
// as it always did, and writes back as a list.
func TestManifestV1Substitute(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed", "manifest-payments.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	var globs []string
	for _, s := range m.Steps {
		globs = append(globs, s.Substitute.Globs...)
	}
	if len(globs) == 0 {
		t.Fatal("the seed manifest substitutes nothing; the test checks nothing")
	}
	out, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"substitute": [`) {
		t.Errorf("substitute not written as a list:\n%s", out)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestManifestV2Seed: the version 2 seed of FuzzParseManifest is valid, so
// the fuzzer starts from every version 2 key.
func TestManifestV2Seed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "seed", "manifest-v2-config.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[StepKind]bool{}
	for _, s := range m.Steps {
		kinds[s.Kind()] = true
	}
	if !kinds[KindHealth] || !kinds[KindDeploy] || !kinds[KindScript] || m.Packages[0].Archive == nil {
		t.Errorf("the seed lacks a version 2 key: kinds %v, archive %v", kinds, m.Packages[0].Archive)
	}
}
