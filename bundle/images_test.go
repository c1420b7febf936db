package bundle_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
)

const imagesYAML = `apiVersion: airlock/v1
name: shop
version: 1.0.0
targets: [zone:test]
packages:
  - name: site
    path: web
images:
%s
steps:
  - name: hello
    run: echo hello
`

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// buildImages writes a release whose images: list is images (YAML lines)
// and whose layout folder oci/ holds layout, builds it and returns the
// bundle and the error.
func buildImages(t *testing.T, f *bundletest.Fixture, images string, prepare func(dir string), reg ...bundle.RegistryOptions) (string, error) {
	t.Helper()
	dir := f.WriteRelease(strings.Replace(imagesYAML, "%s", images, 1), map[string]string{"web/index.html": "hi\n"}, 0)
	if prepare != nil {
		prepare(dir)
	}
	rel, err := bundle.LoadRelease(dir)
	if err != nil {
		return "", err
	}
	out := filepath.Join(f.Dir, "bundle-"+filepath.Base(dir))
	o := bundle.BuildOptions{
		Release: rel, Signer: f.Release, Recipients: []age.Recipient{f.Identity.Recipient()},
		Out: out, LedgerDir: f.Ledger,
	}
	if len(reg) > 0 {
		o.Registry = reg[0]
	}
	_, err = bundle.Build(context.Background(), o)
	return out, err
}

// TestImagesShareBlobs: two images sharing a base layer travel in one OCI
// layout with each blob once, so the payload is smaller than the two
// images; the manifest lists every blob of each.
func TestImagesShareBlobs(t *testing.T) {
	f := bundletest.New(t)
	base := bundletest.Layer(t, map[string][]byte{"bin/base": randomBytes(2 << 20)})
	web := bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/web": randomBytes(256 << 10)}))
	api := bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/api": randomBytes(256 << 10)}))
	out, err := buildImages(t, f, "  - {name: web, layout: oci, ref: 'shop/web:1.0'}\n  - {name: api, layout: oci, ref: 'shop/api:2.0'}", func(dir string) {
		bundletest.WriteLayout(t, filepath.Join(dir, "oci"), map[string]any{"shop/web:1.0": web, "shop/api:2.0": api})
	})
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	if len(m.Images) != 2 {
		t.Fatalf("%d images in the manifest, want 2", len(m.Images))
	}
	var sum int64
	for i, img := range []v1.Image{web, api} {
		d, _ := img.Digest()
		got := m.Images[i]
		if got.Digest != d.String() || got.Repository != []string{"shop/web", "shop/api"}[i] || got.Tag != []string{"1.0", "2.0"}[i] {
			t.Errorf("image %d: %+v, want digest %s", i, got, d)
		}
		if len(got.Blobs) != 4 { // manifest, config, two layers
			t.Errorf("image %s: %d blobs, want 4", got.Name, len(got.Blobs))
		}
		for _, b := range got.Blobs {
			sum += b.Size
		}
	}
	st := f.Statement(out)
	if size := st.Predicate.Payload.Size; size >= sum {
		t.Errorf("payload of %d bytes, not smaller than the two images (%d)", size, sum)
	}
	files := f.PayloadFiles(out)
	blobs := 0
	for p := range files {
		if strings.HasPrefix(p, "images/blobs/sha256/") {
			blobs++
		}
	}
	if blobs != 7 { // 2 manifests, 2 configs, the base layer once, 2 own layers
		t.Errorf("%d blobs in the payload, want 7", blobs)
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["images/index.json"], &idx); err != nil || len(idx.Manifests) != 2 || idx.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "web" {
		t.Errorf("index.json: %s (%v)", files["images/index.json"], err)
	}
	if string(files["images/oci-layout"]) != "{\"imageLayoutVersion\":\"1.0.0\"}\n" {
		t.Errorf("oci-layout: %q", files["images/oci-layout"])
	}
}

// TestImagePlatforms: one platform ships that platform's manifest under its
// upstream digest; several a new index of those; an absent one is refused.
func TestImagePlatforms(t *testing.T) {
	f := bundletest.New(t)
	amd := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"bin/x": []byte("amd64")}))
	arm := bundletest.Image(t, "linux/arm64", bundletest.Layer(t, map[string][]byte{"bin/x": []byte("arm64")}))
	idx := bundletest.Index(t, map[string]v1.Image{"linux/amd64": amd, "linux/arm64": arm})
	prepare := func(dir string) {
		bundletest.WriteLayout(t, filepath.Join(dir, "oci"), map[string]any{"multi": idx})
	}
	idxDigest, _ := idx.Digest()
	armDigest, _ := arm.Digest()

	out, err := buildImages(t, f, "  - {name: app, layout: oci, platforms: [linux/arm64]}", prepare)
	if err != nil {
		t.Fatal(err)
	}
	got := readManifest(t, out).Images[0]
	if got.Digest != armDigest.String() || got.UpstreamDigest != idxDigest.String() || got.Repository != "app" || got.Tag != "multi" {
		t.Errorf("one platform: %+v", got)
	}

	out, err = buildImages(t, f, "  - {name: app, layout: oci, platforms: [linux/arm64, linux/amd64]}", prepare)
	if err != nil {
		t.Fatal(err)
	}
	got = readManifest(t, out).Images[0]
	if got.Digest == idxDigest.String() || got.UpstreamDigest != idxDigest.String() || !strings.Contains(got.MediaType, "index") || len(got.Blobs) != 7 {
		t.Errorf("two platforms: %+v", got)
	}

	out, err = buildImages(t, f, "  - {name: app, layout: oci}", prepare)
	if err != nil {
		t.Fatal(err)
	}
	if got = readManifest(t, out).Images[0]; got.Digest != idxDigest.String() || got.UpstreamDigest != "" {
		t.Errorf("all platforms: %+v", got)
	}

	_, err = buildImages(t, f, "  - {name: app, layout: oci, platforms: [linux/s390x]}", prepare)
	if err == nil || !strings.Contains(err.Error(), "image app: no platform linux/s390x") {
		t.Errorf("absent platform: %v", err)
	}
}

// TestImageDockerArchive: a `docker save` archive's image is shipped under
// the repository and tag it carries.
func TestImageDockerArchive(t *testing.T) {
	f := bundletest.New(t)
	img := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"bin/tool": []byte("#!/bin/sh\n")}))
	out, err := buildImages(t, f, "  - {name: tools, archive: tools.tar}", func(dir string) {
		tag, _ := name.NewTag("shop/tools:3.1")
		if err := tarball.WriteToFile(filepath.Join(dir, "tools.tar"), tag, img); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readManifest(t, out).Images[0]
	if got.Repository != "shop/tools" || got.Tag != "3.1" || got.Kind != "image-archive" || len(got.Blobs) != 3 {
		t.Errorf("docker archive: %+v", got)
	}

	// An OCI archive: a tar of an OCI image layout (docker save of Docker
	// 25 and later, skopeo copy oci-archive:), its image chosen by ref.
	out, err = buildImages(t, f, "  - {name: tools, archive: tools-oci.tar, ref: 'shop/tools:3.1'}", func(dir string) {
		lay := filepath.Join(f.Dir, "layout-"+filepath.Base(dir))
		bundletest.WriteLayout(t, lay, map[string]any{"shop/tools:3.1": img, "other": img})
		var entries []bundletest.Entry
		filepath.WalkDir(lay, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(lay, p)
				data, _ := os.ReadFile(p)
				entries = append(entries, bundletest.Entry{Name: filepath.ToSlash(rel), Body: string(data)})
			}
			return nil
		})
		if err := os.WriteFile(filepath.Join(dir, "tools-oci.tar"), bundletest.Tar(t, entries...), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if got := readManifest(t, out).Images[0]; got.Digest != d.String() || got.Repository != "shop/tools" || got.Tag != "3.1" {
		t.Errorf("OCI archive: %+v", got)
	}
}

// TestImageBadInput: what the build refuses, naming the image.
func TestImageBadInput(t *testing.T) {
	f := bundletest.New(t)
	img := bundletest.Image(t, "linux/amd64", bundletest.Layer(t, map[string][]byte{"bin/x": []byte("x")}))
	layoutWith := func(dir string) {
		bundletest.WriteLayout(t, filepath.Join(dir, "oci"), map[string]any{"a:1": img, "b:1": img})
	}
	tamper := func(dir string) {
		layoutWith(dir)
		ls, _ := img.Layers()
		d, _ := ls[0].Digest()
		p := filepath.Join(dir, "oci", "blobs", "sha256", d.Hex)
		data, _ := os.ReadFile(p)
		data[len(data)-1] ^= 1
		os.WriteFile(p, data, 0o644)
	}
	for _, tt := range []struct {
		name, images string
		prepare      func(string)
		want         string
	}{
		{"no such ref", "  - {name: app, layout: oci, ref: 'c:1'}", layoutWith, `image app: oci has no image named "c:1"`},
		{"which one", "  - {name: app, layout: oci}", layoutWith, "holds 2 images"},
		{"tampered blob", "  - {name: app, layout: oci, ref: 'a:1'}", tamper, "content has sha256"},
		{"not a layout", "  - {name: app, layout: web}", nil, "image app: web is not an OCI image layout"},
		{"missing layout", "  - {name: app, layout: nope}", nil, `"nope" does not exist`},
		{"name of a package", "  - {name: site, layout: oci}", layoutWith, "names are unique across packages and images"},
		{"two sources", "  - {name: app, layout: oci, archive: x.tar}", nil, "mutually exclusive"},
		{"registry in a selector", "  - {name: app, layout: oci, ref: 'reg.example/a:1'}", nil, "without a registry"},
		{"ref without a registry", "  - {name: app, ref: 'shop/a:1'}", nil, "name the registry"},
		{"bad platform", "  - {name: app, ref: 'reg.example/a:1', platforms: [amd64]}", nil, "is not os/arch"},
		{"no source", "  - {name: app}", nil, "missing required key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := buildImages(t, f, tt.images, tt.prepare)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("a bundle was written")
			}
		})
	}
}

// TestManifestImages: the zone refuses a manifest whose images do not
// match its payload: a blob that is not a listed file of its digest and
// size, a first blob that is not the image, a signature that is not a
// blob, a push step naming no image.
func TestManifestImages(t *testing.T) {
	seed, err := os.ReadFile(filepath.Join("testdata", "seed", "manifest-images.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.ParseManifest(seed)
	if err != nil {
		t.Fatalf("the seed: %v", err)
	}
	if len(m.Images) != 1 || len(m.Steps[1].Push.Names) != 1 || !m.Steps[1].Retag {
		t.Fatalf("the seed decodes as %+v", m)
	}
	for _, tc := range []struct {
		name string
		edit func(m *bundle.Manifest)
		want string
	}{
		{"blob not in the payload", func(m *bundle.Manifest) { m.Images[0].Blobs[2].Digest = "sha256:" + strings.Repeat("0", 64) }, "is not a file of the payload"},
		{"blob of another size", func(m *bundle.Manifest) { m.Images[0].Blobs[2].Size++ }, "is not a file of the payload"},
		{"blob twice", func(m *bundle.Manifest) { m.Images[0].Blobs = append(m.Images[0].Blobs, m.Images[0].Blobs[2]) }, "listed twice"},
		{"first blob not the image", func(m *bundle.Manifest) {
			m.Images[0].Blobs[0], m.Images[0].Blobs[2] = m.Images[0].Blobs[2], m.Images[0].Blobs[0]
		}, "first blob"},
		{"signature not a blob", func(m *bundle.Manifest) { m.Images[0].Signatures = []string{"sha256:" + strings.Repeat("1", 64)} }, "not one of its blobs"},
		{"repository with a registry", func(m *bundle.Manifest) { m.Images[0].Repository = "evil.example/shop/app" }, "not a repository path"},
		{"name of a package", func(m *bundle.Manifest) {
			m.Images[0].Name = m.Packages[0].Name
			m.Steps[1].Push.Names = []string{m.Packages[0].Name}
		}, "duplicate name"},
		{"unknown kind", func(m *bundle.Manifest) { m.Images[0].Kind = "path" }, "unknown kind"},
		{"push of no image", func(m *bundle.Manifest) { m.Steps[1].Push.Names = []string{"nope"} }, `push names "nope"`},
		{"push all without images", func(m *bundle.Manifest) {
			m.Images = nil
			m.Steps[1].Push = bundle.PushImages{All: true}
		}, "no images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := bundle.ParseManifest(seed)
			tc.edit(m)
			data, err := bundle.MarshalManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bundle.ParseManifest(data); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
