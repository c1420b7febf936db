package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/pkcs11key"
	"airlock.dev/airlock/internal/sigbundle"
	"airlock.dev/airlock/internal/softhsmtest"
)

// Interop with the standard tools is a feature: anyone can open a bundle
// with age, zstd and tar, and check its signature with cosign. These tests
// need those programs; they skip without them unless
// AIRLOCK_REQUIRE_INTEROP=1 (set by CI), where a missing tool fails.

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("AIRLOCK_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s not found on PATH (AIRLOCK_REQUIRE_INTEROP=1)", tool)
			}
			t.Skipf("%s not found on PATH", tool)
		}
	}
}

// offlineEnv makes any network attempt by a tool fail at once, locally.
func offlineEnv(extra ...string) []string {
	env := append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=", "no_proxy=")
	return append(env, extra...)
}

type cli struct {
	t   *testing.T
	dir string
}

// airlock runs the CLI in-process and fails the test on a non-zero exit.
func (c *cli) airlock(args ...string) string {
	c.t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
		c.t.Fatalf("airlock %v: exit %d\n%s", args, code, errb.String())
	}
	return out.String()
}

func (c *cli) sh(script string, extraEnv ...string) (string, error) {
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = c.dir
	cmd.Env = offlineEnv(extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func setupBundle(t *testing.T) (*cli, string) {
	examples, err := filepath.Abs("../../examples/payments-api")
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, dir: t.TempDir()}
	t.Chdir(c.dir)
	t.Setenv("AIRLOCK_PASSWORD", "pw")
	t.Setenv("PAYMENTS_DB_PASSWORD", "interop-secret")
	t.Setenv("AIRLOCK_LEDGER", filepath.Join(c.dir, "ledger"))
	c.airlock("key", "generate", "release")
	c.airlock("zone", "init", "zone", "--zone", "pci-east", "--release-key", "release.pub")
	if err := os.CopyFS(filepath.Join(c.dir, "rel"), os.DirFS(examples)); err != nil {
		t.Fatal(err)
	}
	c.airlock("build", "rel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "-o", "drop")
	return c, filepath.Join(c.dir, "drop")
}

func TestInteropAgeZstdTar(t *testing.T) {
	needTools(t, "age", "zstd", "tar")
	c, drop := setupBundle(t)
	out, err := c.sh("age -d -i zone/zone.agekey drop/payload.age | zstd -d | tar -t")
	if err != nil {
		t.Fatalf("age | zstd | tar: %v\n%s", err, out)
	}
	got := strings.Fields(out)
	data, err := os.ReadFile(filepath.Join(drop, bundle.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{bundle.VariablesEntry}
	for _, f := range m.Files {
		name := f.Path
		if f.Type == bundle.TypeDir {
			name += "/"
		}
		want = append(want, name)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tar -t lists\n%s\nmanifest lists\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// sha256sum -c checks the integrity of every file.
	if out, err := c.sh("cd drop && sha256sum -c SHA256SUMS"); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
}

func TestInteropCosign(t *testing.T) {
	needTools(t, "cosign")
	c, _ := setupBundle(t)
	verifyCmd := "cosign verify-blob-attestation --key release.pub --type " + bundle.PredicateType +
		" --signature drop/statement.dsse.json --insecure-ignore-tlog=true "
	if out, err := c.sh(verifyCmd + "drop/payload.age"); err != nil {
		t.Fatalf("cosign rejects a good bundle: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(c.dir, "drop", "payload.age"))
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0xff
	if err := os.WriteFile(filepath.Join(c.dir, "flipped"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.sh(verifyCmd + "flipped")
	if err == nil || !strings.Contains(out, "no matching subject digest") {
		t.Fatalf("cosign on a payload with a flipped byte: %v\n%s", err, out)
	}
}

// TestInteropCosignKey: a key made by `cosign generate-key-pair` signs bundles.
func TestInteropCosignKey(t *testing.T) {
	needTools(t, "cosign")
	c, _ := setupBundle(t)
	if out, err := c.sh("cosign generate-key-pair", "COSIGN_PASSWORD=cosign-pw"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	t.Setenv("AIRLOCK_PASSWORD", "cosign-pw")
	c.airlock("build", "rel", "--key", "cosign.key", "--recipients-file", "zone/zone.recipient", "-o", "by-cosign-key", "--sequence", "5")
	out := c.airlock("verify", "by-cosign-key", "--key", "cosign.pub", "--json")
	var res struct {
		Verified bool `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !res.Verified {
		t.Fatalf("verify with cosign.pub: %v\n%s", err, out)
	}
}

// TestInteropCosignBlob: release checksums signed by airlock verify with
// cosign verify-blob, and cosign sign-blob signatures verify with airlock.
func TestInteropCosignBlob(t *testing.T) {
	needTools(t, "cosign")
	c := &cli{t: t, dir: t.TempDir()}
	t.Chdir(c.dir)
	t.Setenv("AIRLOCK_PASSWORD", "pw")
	if err := os.WriteFile("SHA256SUMS", []byte("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  airlock-linux-amd64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.airlock("key", "generate", "release")
	c.airlock("key", "sign-blob", "SHA256SUMS", "--key", "release.key")
	verify := "cosign verify-blob --key release.pub --signature SHA256SUMS.sig --insecure-ignore-tlog=true "
	if out, err := c.sh(verify + "SHA256SUMS"); err != nil {
		t.Fatalf("cosign rejects airlock's signature: %v\n%s", err, out)
	}
	if out, err := c.sh("sed 's/^9/8/' SHA256SUMS > changed && " + verify + "changed"); err == nil {
		t.Fatalf("cosign accepts the signature over changed checksums:\n%s", out)
	}

	// cosign 3 writes a Sigstore bundle (cosign 2 does with
	// --new-bundle-format); airlock checks the signature it holds.
	if out, err := c.sh("cosign generate-key-pair && cosign sign-blob --yes --key cosign.key --tlog-upload=false --use-signing-config=false "+
		"--new-bundle-format=true --bundle by-cosign.sigstore.json SHA256SUMS",
		"COSIGN_PASSWORD=cosign-pw"); err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
	raw, err := os.ReadFile("by-cosign.sigstore.json")
	if err != nil {
		t.Fatal(err)
	}
	var b sigbundle.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("by-cosign.sig", []byte(b.MessageSignature.Signature), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.airlock("key", "verify-blob", "SHA256SUMS", "--key", "cosign.pub", "--signature", "by-cosign.sig")
	if !strings.Contains(out, "verified SHA256SUMS") {
		t.Fatalf("airlock key verify-blob: %s", out)
	}
}

// TestInteropCosignTokenKey: what a key in a PKCS#11 token signs — a bundle
// statement and a file — cosign verifies with the key's .pub, unchanged.
func TestInteropCosignTokenKey(t *testing.T) {
	needTools(t, "cosign")
	tk := softhsmtest.New(t)
	if !pkcs11key.Supported {
		t.Skip("this test binary was built without cgo")
	}
	c, _ := setupBundle(t)
	uri := tk.URI("release")
	c.airlock("key", "generate", "token", "--pkcs11", uri)
	c.airlock("build", "rel", "--key", uri, "--recipients-file", "zone/zone.recipient", "-o", "by-token", "--sequence", "7")
	c.airlock("key", "sign-blob", "zone/trust.yaml", "--key", uri)
	for _, cmd := range []string{
		"cosign verify-blob-attestation --key token.pub --type " + bundle.PredicateType +
			" --signature by-token/statement.dsse.json --insecure-ignore-tlog=true by-token/payload.age",
		"cosign verify-blob --key token.pub --signature zone/trust.yaml.sig --insecure-ignore-tlog=true zone/trust.yaml",
	} {
		if out, err := c.sh(cmd); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
}
