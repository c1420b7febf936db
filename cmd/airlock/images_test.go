package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// imageRelease writes at dir a release for zone of two images sharing a
// base layer, in an OCI image layout (oci/), and a step that names where
// one was pushed.
func imageRelease(t *testing.T, dir, zone string) {
	t.Helper()
	base := bundletest.Layer(t, map[string][]byte{"bin/base": []byte("#!/bin/sh\necho base\n")})
	web := bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/web": []byte("web\n")}))
	api := bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/api": []byte("api\n")}))
	bundletest.WriteLayout(t, filepath.Join(dir, "oci"), map[string]any{"shop/web:1.4.2": web, "shop/api:2.0": api})
	yaml := fmt.Sprintf(`apiVersion: airlock/v1
name: shop-images
version: 1.0.0
targets: [zone:%s]
images:
  - {name: web, layout: oci, ref: 'shop/web:1.4.2'}
  - {name: api, layout: oci, ref: 'shop/api:2.0'}
steps:
  - name: note
    run: 'echo web is #{Airlock.Images.web.Digest}'
`, zone)
	if err := os.WriteFile(filepath.Join(dir, "airlock.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImagesExportSkopeo: images export writes an OCI image layout that
// skopeo reads and copies, each image under its name; the payload itself,
// opened with age, zstd and tar, holds a layout skopeo reads too.
func TestImagesExportSkopeo(t *testing.T) {
	needTools(t, "skopeo", "age", "zstd", "tar")
	c, _ := setupBundle(t)
	imageRelease(t, filepath.Join(c.dir, "imgrel"), "pci-east")
	c.airlock("build", "imgrel", "--key", "release.key", "--recipients-file", "zone/zone.recipient", "-o", "img")
	out := c.airlock("inspect", "img")
	if !strings.Contains(out, "\nimages\n  web ") || !strings.Contains(out, "shop/api:2.0") {
		t.Errorf("inspect does not list the images:\n%s", out)
	}
	c.airlock("images", "export", "web", "api", "--bundle", "img", "--trust", "zone/trust.yaml", "--to", "oci-out")
	for _, script := range []string{
		"skopeo inspect oci:oci-out:web",
		"skopeo copy --quiet oci:oci-out:api oci:copy:api && skopeo inspect oci:copy:api",
		"mkdir payload && age -d -i zone/zone.agekey img/payload.age | zstd -d | tar -x -C payload && skopeo inspect oci:payload/images:web",
	} {
		if out, err := c.sh(script); err != nil || !strings.Contains(out, `"Digest": "sha256:`) {
			t.Errorf("%s: %v\n%s", script, err, out)
		}
	}
	var code int
	var errb bytes.Buffer
	code = run(context.Background(), []string{"images", "export", "all", "--bundle", "img", "--trust", "zone/trust.yaml", "--to", "oci-out"}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code != 1 || !strings.Contains(errb.String(), "already exists") {
		t.Errorf("export over an existing folder: exit %d: %s", code, errb.String())
	}
}

// TestImageLines: history's line and receipt show name each image with
// its outcome, control characters made visible.
func TestImageLines(t *testing.T) {
	images := []receipt.Image{
		{Name: "web", Outcome: receipt.ImagePushed, Reference: "reg:5000/mirror/shop/web@sha256:" + strings.Repeat("a", 64), Tag: "1.4.2"},
		{Name: "api\x1b[2J", Outcome: receipt.ImageFailed, Registry: "reg:5000", Error: "connection refused"},
	}
	if got := imagesText(images); got != `  images: web pushed, api\x1b[2J failed` {
		t.Errorf("history: %q", got)
	}
	var b bytes.Buffer
	printReceiptImages(&b, images)
	for _, want := range []string{"pushed    web                  reg:5000/mirror/shop/web@sha256:", "(tag 1.4.2)", `failed    api\x1b[2J`, "reg:5000: connection refused"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("receipt show lacks %q:\n%s", want, b.String())
		}
	}
}
