//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"airlock.dev/airlock/internal/structured"
	"airlock.dev/airlock/internal/subst"
)

// The secret of TestSecretsNotGuessable: short, as database passwords in
// small config files too often are.
const guessedSecret = "Zq7-pass"

// secretsRelease deploys files into which the secret goes, each in the
// encoding the file uses: substituted as it is (.properties), JSON-escaped
// and base64-encoded, written by structured replacement (appsettings.json),
// and through a sensitive step output (token.conf, a second deploy step).
const secretsRelease = `apiVersion: airlock/v1
name: payments-api
version: 1.0.0
channel: production
targets: [zone:pci-east]
expires: 24h
packages:
  - { name: app, path: app }
  - { name: extra, path: extra }
variables:
  InstallRoot: /nonexistent
  DbPassword: { sensitive: true, fromEnv: GUESS_DB_PASSWORD }
  "Database:Password": { sensitive: true, fromEnv: GUESS_DB_PASSWORD }
steps:
  - name: mint
    run: 'printf "sensitive Token=%s-tok\n" "$DbPassword" >> "$AIRLOCK_OUTPUT"'
  - name: install
    deploy: app
    to: "#{InstallRoot}"
    substitute: ["conf/*"]
    structured: ["appsettings.json"]
  - name: install extra
    deploy: extra
    to: "#{InstallRoot}-extra"
    substitute: ["token.conf"]
  - name: show
    run: 'cat "#{InstallRoot}/current/conf/db.properties"; echo "$DbPassword"'
`

// secretTemplates are the files that receive the secret, as shipped, by
// their path under the deploy targets' current releases.
var secretTemplates = map[string]string{
	"app/conf/db.properties":  "db.url=jdbc:postgresql://db/payments\ndb.user=payments\ndb.password=#{DbPassword}\n",
	"app/conf/db.json":        `{"user":"payments","password":"#{DbPassword | JsonEscape}"}` + "\n",
	"app/conf/db.b64":         "#{DbPassword | ToBase64}\n",
	"app/appsettings.json":    "{\n  \"Database\": {\n    \"Host\": \"db\",\n    \"Password\": \"\"\n  }\n}\n",
	"extra/token.conf":        "token=#{Steps.mint.Token}\n",
	"app/static/index.html":   "<p>payments</p>\n",
	"extra/README":            "extra files\n",
	"app/conf/logging.config": "level=info\n",
}

// render is a file as it is deployed when the secret is guess: what
// someone who knows the release (its templates are the manifest's, by
// digest) computes for each guess, with airlock's own substitution and
// structured replacement.
func render(t *testing.T, path, guess string) []byte {
	t.Helper()
	tmpl := []byte(secretTemplates[path])
	if path == "app/appsettings.json" {
		res, err := structured.Replace("appsettings.json", tmpl, map[string]string{"Database:Password": guess})
		if err != nil {
			t.Fatal(err)
		}
		return res.Data
	}
	out, err := subst.Expand(tmpl, func(name string) (string, bool) {
		switch name {
		case "DbPassword":
			return guess, true
		case "Steps.mint.Token":
			return guess + "-tok", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSecretsNotGuessable: a short secret substituted into small config
// files cannot be confirmed from anything an apply carries out. The test
// builds and applies a release with the CLI, then hashes guesses — the
// right one among them — of every file the secret went into, as each
// would be deployed, and looks for their digests (hex, base64) and for
// the secret itself in every receipt (its envelope and its statement),
// file list and step log (decrypted with the auditor's key) on the media
// and in the state directory, in the audit's table, JSON, JSONL and HTML
// and in what apply, status, history and receipt show print.
func TestSecretsNotGuessable(t *testing.T) {
	c := &cli{t: t, dir: t.TempDir()}
	t.Chdir(c.dir)
	t.Setenv("AIRLOCK_PASSWORD", "pw")
	t.Setenv("AIRLOCK_LEDGER", filepath.Join(c.dir, "ledger"))
	t.Setenv("GUESS_DB_PASSWORD", guessedSecret)
	auditor, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	c.airlock("key", "generate", "release")
	c.airlock("zone", "init", "zone", "--zone", "pci-east", "--release-key", "release.pub")
	root := filepath.Join(c.dir, "srv", "payments-api")
	trust, err := os.ReadFile("zone/trust.yaml")
	if err != nil {
		t.Fatal(err)
	}
	trust = fmt.Appendf(trust, "variables:\n  InstallRoot: %q\nauditors: [%s]\n", root, auditor.Recipient())
	if err := os.WriteFile("zone/trust.yaml", trust, 0o644); err != nil {
		t.Fatal(err)
	}
	c.airlock("zone", "commit-policy", "--trust", "zone/trust.yaml", "--operator", "Test Operator")
	os.MkdirAll("rel", 0o755)
	os.WriteFile("rel/airlock.yaml", []byte(secretsRelease), 0o644)
	for p, body := range secretTemplates {
		os.MkdirAll(filepath.Dir(filepath.Join("rel", p)), 0o755)
		os.WriteFile(filepath.Join("rel", p), []byte(body), 0o644)
	}
	c.airlock("build", "rel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "-o", "drop")

	// What is printed is carried out too (a terminal log, a ticket).
	printed := c.airlock("apply", "drop", "--trust", "zone/trust.yaml", "--receipt-out", "media")
	printed += c.airlock("status", "--trust", "zone/trust.yaml", "--json")
	printed += c.airlock("history", "--trust", "zone/trust.yaml", "--json")
	// The audit's verdict is not what this test is about: whatever it
	// finds (exit 0 or 3), what it writes is read.
	for _, args := range [][]string{{}, {"--json"}, {"--jsonl", "--html", "report.html"}} {
		var out, errb bytes.Buffer
		args = append([]string{"audit", "media", "--key", "zone/receipt.pub"}, args...)
		if code := run(t.Context(), args, strings.NewReader(""), &out, &errb); code != 0 && code != 3 {
			t.Fatalf("airlock %v: exit %d\n%s", args, code, errb.String())
		}
		printed += out.String() + errb.String()
	}
	artifacts := map[string][]byte{"printed": []byte(printed)}
	html, err := os.ReadFile("report.html")
	if err != nil {
		t.Fatal(err)
	}
	artifacts["report.html"] = html
	receipts := 0
	for _, dir := range []string{"media", "zone/state/receipts"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			artifacts[p] = data
			switch {
			case strings.HasSuffix(p, ".dsse.json"):
				receipts++
				var env struct{ Payload string }
				if err := json.Unmarshal(data, &env); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				stmt, err := base64.StdEncoding.DecodeString(env.Payload)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				artifacts[p+" (statement)"] = stmt
				if dir == "media" { // the state directory's copy is the same file
					artifacts[p+" (receipt show)"] = []byte(c.airlock("receipt", "show", p) + c.airlock("receipt", "show", p, "--json"))
				}
			case strings.HasSuffix(p, ".log.age"):
				r, err := age.Decrypt(bytes.NewReader(data), auditor)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				log, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				artifacts[p+" (decrypted)"] = log
			}
		}
	}
	if receipts < 6 || artifacts[filepath.Join("media", "receipt-pci-east-"+hostName(t)+"-0000000003.files")] == nil {
		t.Fatalf("the apply left %d receipts and no file list beside the third: %v", receipts, keysOf(artifacts))
	}

	guesses := []string{"password", "123456", "Zq7-pasz", "payments", "hunter22", guessedSecret, "Zq7-pass!", "zq7-pass", "letmein1"}
	found := 0
	for path := range secretTemplates {
		if !strings.Contains(secretTemplates[path], "#{") && path != "app/appsettings.json" {
			continue
		}
		deployed := filepath.Join(c.dir, "srv", "payments-api", "current", strings.TrimPrefix(path, "app/"))
		if strings.HasPrefix(path, "extra/") {
			deployed = filepath.Join(c.dir, "srv", "payments-api-extra", "current", strings.TrimPrefix(path, "extra/"))
		}
		onDisk, err := os.ReadFile(deployed)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range guesses {
			content := render(t, path, g)
			// The right guess reproduces the deployed file byte for byte:
			// the test hashes what an attacker would.
			if g == guessedSecret && !bytes.Equal(content, onDisk) {
				t.Fatalf("%s: the right guess renders\n%q\nbut the file deployed is\n%q", path, content, onDisk)
			}
			sum := sha256.Sum256(content)
			for _, needle := range digestForms(sum[:]) {
				for name, data := range artifacts {
					if bytes.Contains(data, []byte(needle)) {
						found++
						t.Errorf("%s: the digest of %s with the guess %q is in it (%s): the guess is confirmed", name, path, g, needle)
					}
				}
			}
		}
	}
	// Nor is the secret itself, or the host's key for files' digests.
	needles := []string{guessedSecret, base64.StdEncoding.EncodeToString([]byte(guessedSecret))}
	for _, p := range []string{"zone/state/file-digest.key"} {
		if k, err := os.ReadFile(p); err == nil {
			needles = append(needles, string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k))
		}
	}
	for _, needle := range needles {
		for name, data := range artifacts {
			if bytes.Contains(data, []byte(needle)) {
				found++
				t.Errorf("%s: holds the secret, or the key of the files' digests", name)
			}
		}
	}
	t.Logf("%d guesses of %d files against %d artifacts: %d found", len(guesses), 5, len(artifacts), found)
}

// digestForms are the ways a digest may be written down: hex in either
// case and base64 (standard and URL, padded or not).
func digestForms(sum []byte) []string {
	h := hex.EncodeToString(sum)
	return []string{h, strings.ToUpper(h), base64.StdEncoding.EncodeToString(sum), base64.RawStdEncoding.EncodeToString(sum),
		base64.URLEncoding.EncodeToString(sum), base64.RawURLEncoding.EncodeToString(sum)}
}

func hostName(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(h)
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
