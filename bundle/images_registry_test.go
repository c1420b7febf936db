//go:build unix

package bundle_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/registrytest"
)

// TestImagesFromRegistry: images pulled from a real upstream registry
// (one platform of an index, and a whole image), resolved to digests; the
// payload opened with age, zstd and tar holds an OCI layout that skopeo
// reads. An upstream registry that is down refuses the build.
func TestImagesFromRegistry(t *testing.T) {
	up := registrytest.Start(t, registrytest.Options{})
	f := bundletest.New(t)
	base := bundletest.Layer(t, map[string][]byte{"bin/base": randomBytes(64 << 10)})
	web := bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/web": []byte("web\n")}))
	arm := bundletest.Image(t, "linux/arm64", base, bundletest.Layer(t, map[string][]byte{"srv/web": []byte("arm\n")}))
	idx := bundletest.Index(t, map[string]v1.Image{"linux/amd64": web, "linux/arm64": arm})
	tag := func(s string) name.Tag {
		tg, err := name.NewTag(up.Host + "/" + s)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	if err := remote.Write(tag("shop/web:1.4.2"), web); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag("shop/multi:1"), idx); err != nil {
		t.Fatal(err)
	}
	out, err := buildImages(t, f, "  - {name: web, ref: '"+up.Host+"/shop/web:1.4.2'}\n  - {name: multi, ref: '"+up.Host+"/shop/multi:1', platforms: [linux/arm64]}", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	webDigest, _ := web.Digest()
	armDigest, _ := arm.Digest()
	idxDigest, _ := idx.Digest()
	if got := m.Images[0]; got.Digest != webDigest.String() || got.Repository != "shop/web" || got.Tag != "1.4.2" || got.Kind != "registry" {
		t.Errorf("web: %+v", got)
	}
	if got := m.Images[1]; got.Digest != armDigest.String() || got.UpstreamDigest != idxDigest.String() {
		t.Errorf("multi: %+v", got)
	}

	// The stock tools: age -d | zstd -d | tar -x, then skopeo inspect oci:.
	tools := []string{"age", "zstd", "tar", "skopeo"}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv(registrytest.RequireEnv) == "1" {
				t.Fatalf("%s is missing", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	id := filepath.Join(f.Dir, "id.txt")
	os.WriteFile(id, []byte(f.Identity.String()+"\n"), 0o600)
	dir := filepath.Join(f.Dir, "unpacked")
	os.Mkdir(dir, 0o755)
	var parts []string
	for _, p := range f.Statement(out).Predicate.Payload.Parts {
		parts = append(parts, filepath.Join(out, p.Name))
	}
	sh := "cat \"$@\" | age -d -i " + id + " | zstd -d | tar -x -C " + dir
	if b, err := exec.Command("sh", append([]string{"-c", sh, "sh"}, parts...)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", sh, err, b)
	}
	for name, want := range map[string]string{"web": webDigest.String(), "multi": armDigest.String()} {
		b, err := exec.Command("skopeo", "inspect", "oci:"+filepath.Join(dir, "images")+":"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("skopeo inspect %s: %v\n%s", name, err, b)
		}
		var got struct{ Digest string }
		if err := json.Unmarshal(b, &got); err != nil || got.Digest != want {
			t.Errorf("skopeo inspect %s: digest %q, want %s (%v)", name, got.Digest, want, err)
		}
	}

	up.Stop()
	_, err = buildImages(t, f, "  - {name: web, ref: '"+up.Host+"/shop/web:1.4.2'}", nil)
	if err == nil || !strings.Contains(err.Error(), "image web: pull "+up.Host+"/shop/web:1.4.2") {
		t.Errorf("upstream down: %v", err)
	}
}

// cosignCLI returns the cosign program, skipping t when it is missing
// (failing it when the registry tests are required).
func cosignCLI(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv(registrytest.RequireEnv) == "1" {
			t.Fatal("cosign is missing")
		}
		t.Skip("cosign is not installed")
	}
	return p
}

// cosign runs the cosign CLI in dir, without a password for its keys.
func cosign(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(cosignCLI(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestImageCosignSignature: verify: {key} checks the image's cosign
// signature (made by the cosign CLI, simple signing under the .sig tag) at
// build, and the signature travels in the bundle; an unsigned image and a
// signature by another key refuse the build.
func TestImageCosignSignature(t *testing.T) {
	up := registrytest.Start(t, registrytest.Options{})
	cosignCLI(t)
	f := bundletest.New(t)
	keys := t.TempDir()
	cosign(t, keys, "generate-key-pair", "--output-key-prefix", "shop")
	cosign(t, keys, "generate-key-pair", "--output-key-prefix", "other")
	web := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"srv/web": []byte("signed\n")}))
	api := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"srv/api": []byte("unsigned\n")}))
	for ref, img := range map[string]v1.Image{"shop/web:1": web, "shop/api:1": api} {
		tg, _ := name.NewTag(up.Host + "/" + ref)
		if err := remote.Write(tg, img); err != nil {
			t.Fatal(err)
		}
	}
	webDigest, _ := web.Digest()
	cosign(t, keys, "sign", "--key", "shop.key", "--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false",
		"--allow-http-registry", "--yes", up.Host+"/shop/web@"+webDigest.String())
	withKeys := func(dir string) {
		os.Mkdir(filepath.Join(dir, "keys"), 0o755)
		for _, k := range []string{"shop.pub", "other.pub"} {
			data, _ := os.ReadFile(filepath.Join(keys, k))
			os.WriteFile(filepath.Join(dir, "keys", k), data, 0o644)
		}
	}
	out, err := buildImages(t, f, "  - {name: web, ref: '"+up.Host+"/shop/web:1', verify: {key: keys/shop.pub}}", withKeys)
	if err != nil {
		t.Fatal(err)
	}
	got := readManifest(t, out).Images[0]
	if len(got.Signatures) != 1 || len(got.Blobs) != 6 { // image: manifest, config, layer; signature: the same
		t.Errorf("signed image: %+v", got)
	}
	if files := f.PayloadFiles(out); files["images/blobs/sha256/"+strings.TrimPrefix(got.Signatures[0], "sha256:")] == nil {
		t.Error("the signature manifest is not in the payload")
	}
	for _, tc := range []struct{ images, want string }{
		{"  - {name: api, ref: '" + up.Host + "/shop/api:1', verify: {key: keys/shop.pub}}", "image api: no cosign signature at " + up.Host + "/shop/api:sha256-"},
		{"  - {name: web, ref: '" + up.Host + "/shop/web:1', verify: {key: keys/other.pub}}", "image web: no valid cosign signature by keys/other.pub"},
	} {
		if _, err := buildImages(t, f, tc.images, withKeys); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

// TestImagesFromPrivateRegistry: an upstream registry with TLS from a CA
// of its own (--registry-ca) and a password, found in the Docker
// configuration (DOCKER_CONFIG); without the credentials the build fails,
// naming the image.
func TestImagesFromPrivateRegistry(t *testing.T) {
	up := registrytest.Start(t, registrytest.Options{TLS: true, Username: "builder", Password: "s3cret"})
	f := bundletest.New(t)
	img := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"srv/x": []byte("private\n")}))
	tag, _ := name.NewTag(up.Host + "/shop/private:1")
	if err := remote.Write(tag, img, remote.WithTransport(up.Client(t).Transport), remote.WithAuth(&authn.Basic{Username: "builder", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	docker := t.TempDir()
	t.Setenv("DOCKER_CONFIG", docker)
	images := "  - {name: private, ref: '" + up.Host + "/shop/private:1'}"
	reg := bundle.RegistryOptions{CAFile: up.CAFile}
	if _, err := buildImages(t, f, images, nil, reg); err == nil || !strings.Contains(err.Error(), "image private: pull") {
		t.Fatalf("without credentials: %v", err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("builder:s3cret"))
	os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths":{"`+up.Host+`":{"auth":"`+auth+`"}}}`), 0o600)
	out, err := buildImages(t, f, images, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if got := readManifest(t, out).Images[0]; got.Digest != d.String() {
		t.Errorf("private: %+v", got)
	}
	if _, err := buildImages(t, f, images, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v", err)
	}
}
