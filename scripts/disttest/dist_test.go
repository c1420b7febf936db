package disttest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
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
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/provenance"
	"airlock.dev/airlock/internal/sigbundle"
	"airlock.dev/airlock/internal/softhsmtest"
)

// RequireEnv set to 1 (CI sets it) makes a missing tool of the release
// (the pinned SBOM generator and package builder, cosign, dpkg, rpm) a
// failure instead of a skip.
const RequireEnv = "AIRLOCK_REQUIRE_DIST"

// The release platforms, as scripts/dist.sh builds them by default.
var releaseTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "linux/amd64+pkcs11"}

// Files that hold a signature: ECDSA signatures are randomised, so these
// differ between two builds of the same commit (each must verify).
var signed = []string{"SHA256SUMS.sig", "SHA256SUMS.sigstore.json", "provenance.intoto.jsonl"}

// need skips the test (or fails it under AIRLOCK_REQUIRE_DIST=1) when a
// tool it needs is missing.
func need(t *testing.T, repo string, tools ...string) {
	t.Helper()
	missing := ""
	if err := exec.Command("bash", filepath.Join(repo, "scripts", "dist.sh"), "has-tools").Run(); err != nil {
		missing = "the pinned SBOM generator or package builder (run scripts/dist.sh tools)"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil && missing == "" {
			missing = tool + " (cosign: go install; the others: Debian's packages of their names)"
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("missing %s (%s=1)", missing, RequireEnv)
	}
	t.Skip("missing " + missing)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// releaseKey writes a release key pair into dir.
func releaseKey(t *testing.T, dir string) (keyFile, pubFile string) {
	t.Helper()
	priv, pubPEM, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile = filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub")
	if err := os.WriteFile(keyFile, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFile, pubFile
}

// check runs scripts/dist-check.sh on a release: what a user checks, with
// stock tools.
func check(t *testing.T, repo, dir, pub string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repo, "scripts", "dist-check.sh"), dir, pub}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/dist-check.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDistRelease makes a release as a release manager does — `make dist`
// with a release key, in a fresh clone of the commit, for every platform —
// and checks it with stock tools (scripts/dist-check.sh --clean): every
// binary records the commit and vcs.modified=false (the Windows binary's
// version has no +dirty), the checksums, both signatures and the
// provenance verify with cosign, and the .deb and .rpm install with dpkg
// and rpm into empty roots, from where airlock runs.
func TestDistRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a whole release")
	}
	repo := repoRoot(t)
	need(t, repo, "git", "make", "cosign", "dpkg", "dpkg-deb", "rpm")
	work := t.TempDir()
	keyFile, pubFile := releaseKey(t, work)
	clone := filepath.Join(work, "airlock")
	if out, err := exec.Command("git", "clone", "-q", "--shared", repo, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	cmd := exec.Command("make", "-C", clone, "--no-print-directory", "dist", "DIST_KEY="+keyFile, "VERSION=")
	cmd.Env = append(os.Environ(), "DIST_TARGETS=", "DIST_OUT=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("uncommitted changes")) {
		t.Errorf("make dist in a fresh clone warns of uncommitted changes:\n%s", out)
	}
	dist := filepath.Join(clone, "dist")
	for _, target := range releaseTargets {
		name := binaryName(target)
		bi, err := buildinfo.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if settings["vcs.modified"] != "false" || settings["vcs.revision"] == "" || strings.Contains(bi.Main.Version, "+dirty") {
			t.Errorf("%s: version %s, vcs.revision=%s vcs.modified=%s, want the commit and false",
				name, bi.Main.Version, settings["vcs.revision"], settings["vcs.modified"])
		}
		if wantCgo := map[bool]string{true: "1", false: "0"}[strings.HasSuffix(target, "+pkcs11")]; settings["CGO_ENABLED"] != wantCgo {
			t.Errorf("%s: CGO_ENABLED=%s, want %s", name, settings["CGO_ENABLED"], wantCgo)
		}
	}
	for _, pattern := range []string{"*_amd64.deb", "*_arm64.deb", "*.x86_64.rpm", "*.aarch64.rpm"} {
		if m, _ := filepath.Glob(filepath.Join(dist, pattern)); len(m) != 1 {
			t.Errorf("dist holds %d packages %s, want 1", len(m), pattern)
		}
	}
	report := check(t, repo, dist, pubFile, "--clean")
	t.Log(report)
	for _, want := range []string{"installed with dpkg into an empty root", "rpm", "provenance.intoto.jsonl covers all"} {
		if !strings.Contains(report, want) {
			t.Errorf("dist-check says nothing of %q", want)
		}
	}
}

func binaryName(target string) string {
	t, pkcs11 := strings.CutSuffix(target, "+pkcs11")
	name := "airlock-" + strings.ReplaceAll(t, "/", "-")
	if pkcs11 {
		name += "-pkcs11"
	}
	if strings.HasPrefix(t, "windows/") {
		name += ".exe"
	}
	return name
}

// TestDistReproducible runs `make dist`'s script for this platform (and,
// on linux/amd64, the PKCS#11 build) twice — the second time with an
// empty build cache, so everything is compiled again — and requires the
// same bytes: binaries, SBOMs, packages, SHA256SUMS, and the statement of
// the provenance (signatures are randomised; each must verify). It then
// checks what a user checks: the checksums, the signatures and the
// provenance (with airlock's readers here, with cosign, dpkg and rpm in
// scripts/dist-check.sh), the SBOM, that the binary names its commit, and
// that the PKCS#11 build signs with a key in a SoftHSM2 token while the
// other refuses one.
func TestDistReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds airlock twice from scratch")
	}
	repo := repoRoot(t)
	need(t, repo, "cosign", "dpkg", "dpkg-deb", "rpm")
	// This platform's binary, to run it too, if it is a release platform.
	target, runnable := runtime.GOOS+"/"+runtime.GOARCH, true
	if !slices.Contains(releaseTargets, target) {
		target, runnable = "linux/amd64", false
	}
	targets := []string{target}
	if target == "linux/amd64" {
		targets = append(targets, "linux/amd64+pkcs11") // needs gcc: the tests need cgo anyway
	}
	name := binaryName(target)

	work := t.TempDir()
	keyFile, pubFile := releaseKey(t, work)
	dist := func(out string, env ...string) {
		t.Helper()
		cmd := exec.Command("bash", filepath.Join(repo, "scripts", "dist.sh"))
		cmd.Env = append(os.Environ(), append([]string{"DIST_TARGETS=" + strings.Join(targets, " "), "DIST_OUT=" + out, "DIST_KEY=" + keyFile, "VERSION="}, env...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/dist.sh: %v\n%s", err, b)
		}
	}
	a, b := filepath.Join(work, "a"), filepath.Join(work, "b")
	dist(a)
	dist(b, "GOCACHE="+filepath.Join(work, "cache"))

	files := listDir(t, a)
	var want []string
	for _, tg := range targets {
		want = append(want, binaryName(tg), strings.TrimSuffix(binaryName(tg), ".exe")+".cdx.json")
	}
	if strings.HasPrefix(target, "linux/") {
		want = append(want, "*.deb", "*.rpm")
	}
	if got := len(files) - len(signed) - 1; got != len(want) {
		t.Fatalf("dist holds %v, want SHA256SUMS, the signatures and %v", files, want)
	}
	if got := listDir(t, b); !slices.Equal(got, files) {
		t.Fatalf("the second build holds %v, the first %v", got, files)
	}
	for _, f := range files {
		if slices.Contains(signed, f) {
			continue
		}
		if !bytes.Equal(readFile(t, a, f), readFile(t, b, f)) {
			t.Errorf("%s differs between two builds of the same commit", f)
		}
	}
	if pa, pb := provenancePayload(t, a), provenancePayload(t, b); pa != pb {
		t.Errorf("the provenance's statement differs between two builds of the same commit")
	}

	// SHA256SUMS lists every file but the signatures by its digest; the
	// signatures and the provenance verify.
	sums := readFile(t, a, "SHA256SUMS")
	var listed []string
	for sc := bufio.NewScanner(bytes.NewReader(sums)); sc.Scan(); {
		digest, file, ok := strings.Cut(sc.Text(), "  ")
		sum := sha256.Sum256(readFile(t, a, file))
		if !ok || digest != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS line %q does not match %s", sc.Text(), file)
		}
		listed = append(listed, file)
	}
	if len(listed) != len(files)-len(signed)-1 {
		t.Errorf("SHA256SUMS lists %v of %v", listed, files)
	}
	pub, err := keys.LoadPublic(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{a, b} {
		sums := readFile(t, dir, "SHA256SUMS")
		if err := blobsig.Verify(pub, bytes.NewReader(sums), readFile(t, dir, "SHA256SUMS.sig")); err != nil {
			t.Errorf("%s/SHA256SUMS.sig: %v", dir, err)
		}
		if err := sigbundle.Verify(pub, sums, bytes.NewReader(readFile(t, dir, "SHA256SUMS.sigstore.json"))); err != nil {
			t.Errorf("%s/SHA256SUMS.sigstore.json: %v", dir, err)
		}
	}
	st, err := provenance.Read(bytes.NewReader(readFile(t, a, "provenance.intoto.jsonl")), []*keys.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(listed, "SHA256SUMS") {
		sum := sha256.Sum256(readFile(t, a, f))
		if d, ok := provenance.SubjectDigest(st, f); !ok || d != hex.EncodeToString(sum[:]) {
			t.Errorf("the provenance gives %s the digest %q (%v)", f, d, ok)
		}
	}
	if len(st.Subject) != len(listed)+1 {
		t.Errorf("the provenance names %d subjects, want %d", len(st.Subject), len(listed)+1)
	}
	ext := st.Predicate.BuildDefinition.ExternalParameters
	if src, _ := ext["source"].(map[string]any); src == nil || src["digest"] == nil {
		t.Errorf("the provenance names no source: %v", ext)
	}
	if head, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output(); err == nil {
		d := ext["source"].(map[string]any)["digest"].(map[string]any)
		if d["gitCommit"] != strings.TrimSpace(string(head)) {
			t.Errorf("the provenance names commit %v, git says %s", d["gitCommit"], head)
		}
	}
	check(t, repo, a, pubFile)

	// The SBOM is CycloneDX and lists the modules linked into the binary.
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(readFile(t, a, strings.TrimSuffix(name, ".exe")+".cdx.json"), &bom); err != nil {
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
	var info struct {
		Version  string `json:"version"`
		Commit   string `json:"commit"`
		CGO      bool   `json:"cgo"`
		TrimPath bool   `json:"trimpath"`
		PKCS11   bool   `json:"pkcs11"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info.CGO || info.PKCS11 || !info.TrimPath || info.Version == "dev" {
		t.Errorf("version --json: %s", out)
	}
	if head, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output(); err == nil {
		if info.Commit != strings.TrimSpace(string(head)) {
			t.Errorf("the binary says commit %q, git says %s", info.Commit, head)
		}
	}
	// The release binaries have no cgo, so no PKCS#11; they say so, and
	// which binary to take instead.
	out, err = exec.Command(filepath.Join(a, name), "key", "generate", filepath.Join(work, "hw"),
		"--pkcs11", "pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "built without cgo and has no PKCS#11 support") || !strings.Contains(string(out), "airlock-linux-amd64-pkcs11") {
		t.Errorf("a pkcs11: key with a release binary: %v\n%s", err, out)
	}
	if len(targets) == 1 {
		return
	}
	// The PKCS#11 build makes a key in a SoftHSM2 token and signs with it.
	tk := softhsmtest.New(t)
	p11 := filepath.Join(a, binaryName("linux/amd64+pkcs11"))
	uri := tk.URI("release")
	for _, args := range [][]string{
		{"version", "--json"},
		{"key", "generate", filepath.Join(work, "token"), "--pkcs11", uri},
		{"key", "sign-blob", filepath.Join(a, "SHA256SUMS"), "--key", uri, "--output-signature", filepath.Join(work, "token.sig")},
		{"key", "verify-blob", filepath.Join(a, "SHA256SUMS"), "--key", filepath.Join(work, "token.pub"), "--signature", filepath.Join(work, "token.sig")},
	} {
		cmd := exec.Command(p11, args...)
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+tk.Conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(p11), args, err, out)
		}
		if args[0] == "version" && !bytes.Contains(out, []byte(`"pkcs11": true`)) {
			t.Errorf("the PKCS#11 build says: %s", out)
		}
	}
}

// provenancePayload returns the statement of a release's provenance
// (the DSSE payload, as signed).
func provenancePayload(t *testing.T, dir string) string {
	t.Helper()
	env, err := dsse.Read(bytes.NewReader(readFile(t, dir, "provenance.intoto.jsonl")), provenance.MaxSize)
	if err != nil {
		t.Fatal(err)
	}
	return env.Payload
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
