package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/blobsig"
	"airlock.dev/airlock/internal/buildinfo"
	"airlock.dev/airlock/internal/keys"
)

// TestDistReproducible runs `make dist`'s script for one platform twice —
// the second time with an empty build cache, so everything is compiled
// again — and requires the same bytes: binary, SBOM and SHA256SUMS. It then
// checks what a user checks: the checksums, the signature (with airlock
// and, where present, cosign), the SBOM, and that the binary names its
// commit. It needs the pinned SBOM generator (scripts/dist.sh tools); it
// skips without it unless AIRLOCK_REQUIRE_DIST=1 (set by CI).
func TestDistReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds airlock twice from scratch")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts", "dist.sh")
	if err := exec.Command("bash", script, "has-tools").Run(); err != nil {
		if os.Getenv("AIRLOCK_REQUIRE_DIST") == "1" {
			t.Fatalf("the SBOM generator is not installed (AIRLOCK_REQUIRE_DIST=1): run scripts/dist.sh tools")
		}
		t.Skip("the SBOM generator is not installed: run scripts/dist.sh tools")
	}
	// This platform's binary, to run it too, if it is a release platform.
	target, runnable := runtime.GOOS+"/"+runtime.GOARCH, true
	if !slices.Contains([]string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}, target) {
		target, runnable = "linux/amd64", false
	}
	name := "airlock-" + strings.ReplaceAll(target, "/", "-")
	if strings.HasPrefix(target, "windows/") {
		name += ".exe"
	}

	work := t.TempDir()
	priv, pubPEM, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(work, "release.key"), filepath.Join(work, "release.pub")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	dist := func(out string, env ...string) {
		t.Helper()
		cmd := exec.Command("bash", script)
		cmd.Env = append(os.Environ(), append([]string{"DIST_TARGETS=" + target, "DIST_OUT=" + out, "DIST_KEY=" + keyFile, "VERSION="}, env...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/dist.sh: %v\n%s", err, b)
		}
	}
	a, b := filepath.Join(work, "a"), filepath.Join(work, "b")
	dist(a)
	dist(b, "GOCACHE="+filepath.Join(work, "cache"))

	files := listDir(t, a)
	sbom := strings.TrimSuffix(name, ".exe") + ".cdx.json"
	want := []string{"SHA256SUMS", "SHA256SUMS.sig", name, sbom}
	if !slices.Equal(files, want) {
		t.Fatalf("dist holds %v, want %v", files, want)
	}
	if got := listDir(t, b); !slices.Equal(got, files) {
		t.Fatalf("the second build holds %v, the first %v", got, files)
	}
	for _, f := range files {
		if f == "SHA256SUMS.sig" {
			continue // ECDSA signatures are randomised; both must verify
		}
		if !bytes.Equal(readFile(t, a, f), readFile(t, b, f)) {
			t.Errorf("%s differs between two builds of the same commit", f)
		}
	}

	// SHA256SUMS lists every file by its digest, and its signature verifies.
	sums := readFile(t, a, "SHA256SUMS")
	listed := 0
	for sc := bufio.NewScanner(bytes.NewReader(sums)); sc.Scan(); listed++ {
		digest, file, ok := strings.Cut(sc.Text(), "  ")
		sum := sha256.Sum256(readFile(t, a, file))
		if !ok || digest != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS line %q does not match %s", sc.Text(), file)
		}
	}
	if listed != 2 {
		t.Errorf("SHA256SUMS lists %d files, want the binary and its SBOM:\n%s", listed, sums)
	}
	pub, err := keys.LoadPublic(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{a, b} {
		if err := blobsig.Verify(pub, bytes.NewReader(readFile(t, dir, "SHA256SUMS")), readFile(t, dir, "SHA256SUMS.sig")); err != nil {
			t.Errorf("%s/SHA256SUMS.sig: %v", dir, err)
		}
	}
	if _, err := exec.LookPath("cosign"); err == nil || os.Getenv("AIRLOCK_REQUIRE_INTEROP") == "1" {
		cmd := exec.Command("cosign", "verify-blob", "--key", pubFile, "--signature", "SHA256SUMS.sig", "--insecure-ignore-tlog=true", "SHA256SUMS")
		cmd.Dir, cmd.Env = a, offlineEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cosign verify-blob SHA256SUMS: %v\n%s", err, out)
		}
	}

	// The SBOM is CycloneDX and lists the modules linked into the binary.
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(readFile(t, a, sbom), &bom); err != nil {
		t.Fatal(err)
	}
	var comps []string
	for _, c := range bom.Components {
		comps = append(comps, c.Name+"@"+c.Version)
	}
	for _, m := range []string{"filippo.io/age@", "github.com/sigstore/sigstore@", "github.com/klauspost/compress@", "std@go1.27"} {
		if !slices.ContainsFunc(comps, func(c string) bool { return strings.HasPrefix(c, m) }) {
			t.Errorf("SBOM (%s) does not list %s: %v", bom.BOMFormat, m, comps)
		}
	}

	if !runnable {
		return
	}
	// The binary names its commit and how it was built.
	out, err := exec.Command(filepath.Join(a, name), "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var info buildinfo.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.CGO || !info.TrimPath || info.Version == "dev" {
		t.Errorf("version --json: %s", out)
	}
	// Release binaries have no cgo, so no PKCS#11; they say so, and how to get it.
	out, err = exec.Command(filepath.Join(a, name), "key", "generate", filepath.Join(work, "hw"),
		"--pkcs11", "pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "built without cgo and has no PKCS#11 support") || !strings.Contains(string(out), "CGO_ENABLED=1 make build") {
		t.Errorf("a pkcs11: key with a release binary: %v\n%s", err, out)
	}
	if head, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output(); err == nil {
		if info.Commit != strings.TrimSpace(string(head)) {
			t.Errorf("the binary says commit %q, git says %s", info.Commit, head)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
