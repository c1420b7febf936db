//go:build unix

package apply

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"airlock.dev/airlock/audit"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/registrytest"
	"airlock.dev/airlock/receipt"
)

// realFile is the content of a real program for image layers: the
// busybox-static binary, or this test binary when it is not installed.
func realFile(t *testing.T) []byte {
	t.Helper()
	p := "/bin/busybox"
	if _, err := os.Stat(p); err != nil {
		if p, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testImages are the images of the push tests: web and api share a base
// layer (a busybox binary); multi is a two-platform index.
type testImages struct {
	web, api v1.Image
	multi    v1.ImageIndex
	files    map[string]string // the layout, as release files under oci/
}

func makeTestImages(t *testing.T) *testImages {
	t.Helper()
	base := bundletest.Layer(t, map[string][]byte{"bin/busybox": realFile(t)})
	ti := &testImages{
		web: bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/index.html": []byte("<p>web</p>\n")})),
		api: bundletest.Image(t, "linux/amd64", base, bundletest.Layer(t, map[string][]byte{"srv/api.conf": []byte("port=8080\n")})),
	}
	ti.multi = bundletest.Index(t, map[string]v1.Image{
		"linux/amd64": ti.web,
		"linux/arm64": bundletest.Image(t, "linux/arm64", bundletest.Layer(t, map[string][]byte{"bin/tool": []byte("arm64 tool\n")})),
	})
	dir := t.TempDir()
	bundletest.WriteLayout(t, dir, map[string]any{"shop/web:1.4.2": ti.web, "shop/api:2.0": ti.api, "shop/multi:1": ti.multi})
	ti.files = webFiles()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			data, _ := os.ReadFile(p)
			ti.files["oci/"+filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	return ti
}

// pushRelease is a release of the test images with a push step, a step
// that uses the pushed references, and a failure step.
func pushRelease(version, push string) string {
	return fmt.Sprintf(`apiVersion: airlock/v1
name: shop
version: %q
targets: [zone:test]
packages:
  - name: site
    path: web
images:
  - {name: web, layout: oci, ref: 'shop/web:1.4.2'}
  - {name: api, layout: oci, ref: 'shop/api:2.0'}
  - {name: multi, layout: oci, ref: 'shop/multi:1'}
variables:
  Root: { value: /nonexistent }
  Marker: { value: /nonexistent }
steps:
  - name: publish
    %s
  - name: compose
    run: 'echo "web=#{Airlock.Images.web.Reference} tag=#{Airlock.Images.web.Tag}" >> "#{Marker}"'
  - name: undo
    when: failure
    run: 'echo undo >> "#{Marker}"'
`, version, push)
}

// withRegistry adds the registry to trust.yaml and commits the policy.
func (z *testZone) withRegistry(r *registrytest.Registry, extra string) {
	z.t.Helper()
	z.editTrust(func(s string) string {
		reg := fmt.Sprintf("registry:\n  url: %s\n  prefix: mirror/\n", r.URL)
		if r.CAFile != "" {
			reg += fmt.Sprintf("  caFile: %s\n", r.CAFile)
		}
		return s + reg + extra
	})
	z.commit()
}

func imageOf(t *testing.T, p *receipt.Predicate, name string) receipt.Image {
	t.Helper()
	for _, im := range p.Images {
		if im.Name == name {
			return im
		}
	}
	t.Fatalf("no image %q in the receipt: %+v", name, p.Images)
	return receipt.Image{}
}

// remoteDigest is the digest the registry has for ref ("" when none).
func remoteDigest(t *testing.T, r *registrytest.Registry, ref string, auth authn.Authenticator) string {
	t.Helper()
	nr, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil {
		auth = authn.Anonymous
	}
	d, err := remote.Head(nr, remote.WithTransport(r.Client(t).Transport), remote.WithAuth(auth))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// TestPushImages: a push step pushes every image to a real registry by
// digest and tags it; steps see where it went; a second apply uploads
// nothing and finds each image present; skopeo reads what was pushed.
func TestPushImages(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	z := newZone(t)
	ti := makeTestImages(t)
	z.withRegistry(reg, "")
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: all"), Files: ti.files, Sequence: 1})
	webDigest, _ := ti.web.Digest()
	plan, err := MakePlan(context.Background(), z.opts(b))
	if err != nil {
		t.Fatal(err)
	}
	wantRef := reg.Host + "/mirror/shop/web@" + webDigest.String()
	if len(plan.Images) != 3 || plan.Images[0].Reference != wantRef || !strings.Contains(plan.Steps[1].What, wantRef) {
		t.Errorf("plan: images %+v, steps %+v", plan.Images, plan.Steps)
	}
	res, err := z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	p := z.receipt(res)
	multiDigest, _ := ti.multi.Digest()
	for name, want := range map[string]string{"web": webDigest.String(), "multi": multiDigest.String()} {
		im := imageOf(t, p, name)
		if im.Outcome != receipt.ImagePushed || im.Digest != want || im.Registry != reg.Host || im.Reference != reg.Host+"/mirror/shop/"+name+"@"+want {
			t.Errorf("receipt image %s: %+v", name, im)
		}
		if got := remoteDigest(t, reg, im.Reference, nil); got != want {
			t.Errorf("%s: registry has %q by digest, want %s", name, got, want)
		}
	}
	if got := remoteDigest(t, reg, reg.Host+"/mirror/shop/web:1.4.2", nil); got != webDigest.String() {
		t.Errorf("tag 1.4.2 is at %q, want %s", got, webDigest)
	}
	if want := "web=" + reg.Host + "/mirror/shop/web@" + webDigest.String() + " tag=1.4.2\n"; z.markers() != want {
		t.Errorf("the compose step saw %q, want %q", z.markers(), want)
	}
	if skopeo, err := exec.LookPath("skopeo"); err == nil {
		out, err := exec.Command(skopeo, "inspect", "--tls-verify=false", "--raw", "docker://"+reg.Host+"/mirror/shop/multi:1").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "linux") {
			t.Errorf("skopeo inspect: %v\n%s", err, out)
		}
		out, err = exec.Command(skopeo, "inspect", "--tls-verify=false", "docker://"+reg.Host+"/mirror/shop/api:2.0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "sha256:") {
			t.Errorf("skopeo inspect: %v\n%s", err, out)
		}
	}

	os.Remove(z.marker)
	b2, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.1", "push: [web]"), Files: ti.files, Sequence: 2})
	res, err = z.apply(b2)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	p = z.receipt(res)
	if len(p.Images) != 1 || imageOf(t, p, "web").Outcome != receipt.ImagePresent {
		t.Errorf("second push: %+v", p.Images)
	}
	// status names each image once, by its newest push.
	st, err := ReadStatus(z.trust)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Images) != 3 || st.Images[0].Name != "web" || st.Images[0].Outcome != receipt.ImagePresent {
		t.Errorf("status images: %+v", st.Images)
	}
	// The audit's ledger names the images a bundle carried that no host
	// pushed: those the second bundle's step left out.
	k, _ := keys.LoadPrivate(z.trust.ReceiptKey, nil)
	rep, err := audit.Run(context.Background(), audit.Options{Dir: filepath.Join(z.trust.StateDir, "receipts"),
		Keys: []*keys.PublicKey{k.Public()}, LedgerDir: z.f.Ledger, Now: z.now})
	if err != nil {
		t.Fatal(err)
	}
	notPushed := map[string][]string{}
	for _, lb := range rep.Ledger.Bundles {
		notPushed[lb.Version] = lb.ImagesNotPushed
	}
	if len(notPushed["1.0.0"]) != 0 || !slices.Equal(notPushed["1.0.1"], []string{"api", "multi"}) {
		t.Errorf("ledger images not pushed: %v", notPushed)
	}
	var text strings.Builder
	if err := rep.WriteTable(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "images of shop 1.0.1 that no host pushed: api, multi") {
		t.Errorf("the audit's text does not name the images:\n%s", text.String())
	}
}

// TestPushRetag: a tag of the zone's registry that points elsewhere is
// left (the image is pushed by digest) unless the step says retag: true.
func TestPushRetag(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	z := newZone(t)
	ti := makeTestImages(t)
	z.withRegistry(reg, "")
	// Another image already holds shop/web:1.4.2 in the zone.
	tag, _ := name.NewTag(reg.Host + "/mirror/shop/web:1.4.2")
	if err := remote.Write(tag, ti.api); err != nil {
		t.Fatal(err)
	}
	apiDigest, _ := ti.api.Digest()
	webDigest, _ := ti.web.Digest()
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: [web]"), Files: ti.files, Sequence: 1})
	res, err := z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if im := imageOf(t, z.receipt(res), "web"); im.Outcome != receipt.ImageTagKept {
		t.Errorf("without retag: %+v", im)
	}
	if got := remoteDigest(t, reg, tag.String(), nil); got != apiDigest.String() {
		t.Errorf("the tag moved without retag: %s", got)
	}
	if got := remoteDigest(t, reg, reg.Host+"/mirror/shop/web@"+webDigest.String(), nil); got != webDigest.String() {
		t.Errorf("not pushed by digest: %q", got)
	}
	b, _ = z.f.Build(bundletest.Options{YAML: pushRelease("1.0.1", "push: [web]\n    retag: true"), Files: ti.files, Sequence: 2})
	if res, err = z.apply(b); err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	if im := imageOf(t, z.receipt(res), "web"); im.Outcome != receipt.ImagePushed {
		t.Errorf("with retag: %+v", im)
	}
	if got := remoteDigest(t, reg, tag.String(), nil); got != webDigest.String() {
		t.Errorf("retag: the tag is at %s, want %s", got, webDigest)
	}
}

// TestPushTLSAuth: a registry with TLS from a test CA and htpasswd
// authentication takes the push with the right password; a wrong one
// fails the step, runs the failure steps, and the receipt names the image
// and the registry's answer.
func TestPushTLSAuth(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{TLS: true, Username: "airlock", Password: "right-password"})
	z := newZone(t)
	ti := makeTestImages(t)
	pw := filepath.Join(z.dir, "registry-password")
	if err := os.WriteFile(pw, []byte("wrong-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	z.withRegistry(reg, "  username: airlock\n  password: { fromFile: registry-password }\n")
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: [web, api]"), Files: ti.files, Sequence: 1})
	res, err := z.apply(b)
	if err == nil {
		t.Fatal("pushed with a wrong password")
	}
	p := z.receipt(res)
	im := imageOf(t, p, "web")
	if im.Outcome != receipt.ImageFailed || !strings.Contains(im.Error, "credentials") || p.Outcome.Result != receipt.RolledBack {
		t.Errorf("wrong password: outcome %s, image %+v", p.Outcome.Result, im)
	}
	if z.markers() != "undo\n" {
		t.Errorf("markers %q, want the failure step's", z.markers())
	}

	os.Remove(z.marker)
	if err := os.WriteFile(pw, []byte("right-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err = z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	webDigest, _ := ti.web.Digest()
	if im := imageOf(t, z.receipt(res), "web"); im.Outcome != receipt.ImagePushed {
		t.Errorf("right password: %+v", im)
	}
	auth := &authn.Basic{Username: "airlock", Password: "right-password"}
	if got := remoteDigest(t, reg, reg.Host+"/mirror/shop/web:1.4.2", auth); got != webDigest.String() {
		t.Errorf("tag at %q, want %s", got, webDigest)
	}
}

// TestPushRegistryDown: a zone registry that is down fails the step; the
// failure steps run and the receipt names the image and the error.
func TestPushRegistryDown(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	z := newZone(t)
	ti := makeTestImages(t)
	z.withRegistry(reg, "")
	reg.Stop()
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: [api]"), Files: ti.files, Sequence: 1})
	res, err := z.apply(b)
	if err == nil {
		t.Fatal("pushed to a registry that is down")
	}
	p := z.receipt(res)
	im := imageOf(t, p, "api")
	if im.Outcome != receipt.ImageFailed || !strings.Contains(im.Error, reg.Host) || stepNamed(t, p, "publish").Result != receipt.StepFailed {
		t.Errorf("registry down: %+v", im)
	}
	if z.markers() != "undo\n" {
		t.Errorf("markers %q, want the failure step's", z.markers())
	}
}

// TestPushChecksBlobs: a blob of the staged layout that no longer matches
// the signed manifest stops the push before anything is sent.
func TestPushChecksBlobs(t *testing.T) {
	ti := makeTestImages(t)
	dir := t.TempDir()
	bundletest.WriteLayout(t, dir, map[string]any{"web": ti.web})
	d, _ := ti.web.Digest()
	ls, _ := ti.web.Layers()
	ld, _ := ls[0].Digest()
	ls0, _ := ls[0].Size()
	im := &bundle.ImageRef{Name: "web", Digest: d.String(), Blobs: []bundle.BlobRef{{Digest: ld.String(), Size: ls0, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip"}}}
	if err := checkImageBlobs(context.Background(), dir, im); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", ld.Hex)
	data, _ := os.ReadFile(p)
	data[100] ^= 1
	os.WriteFile(p, data, 0o644)
	if err := checkImageBlobs(context.Background(), dir, im); err == nil || !strings.Contains(err.Error(), "does not match the signed manifest") {
		t.Fatalf("err = %v", err)
	}
}

// TestPushSignature: an image verified at build with its cosign key is
// pushed with its signature, which cosign verify finds and checks in the
// zone's registry.
func TestPushSignature(t *testing.T) {
	up := registrytest.Start(t, registrytest.Options{})
	reg := registrytest.Start(t, registrytest.Options{})
	cosignCLI, err := exec.LookPath("cosign")
	if err != nil {
		if os.Getenv(registrytest.RequireEnv) == "1" {
			t.Fatal("cosign is missing")
		}
		t.Skip("cosign is not installed")
	}
	keys := t.TempDir()
	cosign := func(args ...string) {
		t.Helper()
		cmd := exec.Command(cosignCLI, args...)
		cmd.Dir, cmd.Env = keys, append(os.Environ(), "COSIGN_PASSWORD=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cosign("generate-key-pair", "--output-key-prefix", "shop")
	ti := makeTestImages(t)
	tag, _ := name.NewTag(up.Host + "/shop/web:1.4.2")
	if err := remote.Write(tag, ti.web); err != nil {
		t.Fatal(err)
	}
	webDigest, _ := ti.web.Digest()
	cosign("sign", "--key", "shop.key", "--tlog-upload=false", "--use-signing-config=false", "--new-bundle-format=false",
		"--allow-http-registry", "--yes", up.Host+"/shop/web@"+webDigest.String())
	pub, _ := os.ReadFile(filepath.Join(keys, "shop.pub"))

	z := newZone(t)
	z.withRegistry(reg, "")
	yaml := strings.Replace(pushRelease("1.0.0", "push: [web]"), "  - {name: web, layout: oci, ref: 'shop/web:1.4.2'}",
		"  - {name: web, ref: '"+up.Host+"/shop/web:1.4.2', verify: {key: keys/shop.pub}}", 1)
	files := webFiles()
	files["keys/shop.pub"] = string(pub)
	for k, v := range ti.files {
		files[k] = v
	}
	b, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: files, Sequence: 1})
	res, err := z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	im := imageOf(t, z.receipt(res), "web")
	cmd := exec.Command(cosignCLI, "verify", "--key", "shop.pub", "--insecure-ignore-tlog", "--allow-http-registry", im.Reference)
	cmd.Dir = keys
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), webDigest.String()) {
		t.Errorf("cosign verify in the zone's registry: %v\n%s", err, out)
	}
}

// TestPushKilledThenResumed: the applier is killed after the first image
// reached the registry. The resume rolls the apply back with one receipt
// that names that image as pushed; applying the bundle again pushes the
// rest and finds the first present: every image is in the registry once,
// each apply has one receipt.
func TestPushKilledThenResumed(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	z := newZone(t)
	ti := makeTestImages(t)
	z.withRegistry(reg, "")
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: all"), Files: ti.files, Sequence: 1})
	cmd := z.child(b, "AIRLOCK_CHILD_KILL_IMAGE=web")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("not killed:\n%s", out)
	}
	res, err := z.resume()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, z.out.String())
	}
	p := z.receipt(res)
	if p.Outcome.Result != receipt.RolledBack || len(p.Images) != 1 || imageOf(t, p, "web").Outcome != receipt.ImagePushed {
		t.Fatalf("resumed receipt: %s, images %+v", p.Outcome.Result, p.Images)
	}
	res, err = z.apply(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	p = z.receipt(res)
	want := map[string]string{"web": receipt.ImagePresent, "api": receipt.ImagePushed, "multi": receipt.ImagePushed}
	for name, outcome := range want {
		if im := imageOf(t, p, name); im.Outcome != outcome || remoteDigest(t, reg, im.Reference, nil) != im.Digest {
			t.Errorf("%s: %+v, want %s and in the registry", name, im, outcome)
		}
	}
	if n := len(z.chain()); n != 2 { // the rolled-back apply, the apply
		t.Errorf("%d applies in the chain, want 2", n)
	}
}

// TestImagesStatementMatchesManifest: a statement whose images differ from
// the manifest's (a signer that lies to the ledger) is refused before any
// step runs.
func TestImagesStatementMatchesManifest(t *testing.T) {
	z := newZone(t)
	ti := makeTestImages(t)
	b, _ := z.f.Build(bundletest.Options{YAML: pushRelease("1.0.0", "push: all"), Files: ti.files, Sequence: 1})
	if st := z.f.Statement(b); len(st.Predicate.Images) != 3 || st.Predicate.Images[0].Name != "web" {
		t.Fatalf("statement images %+v", st.Predicate.Images)
	}
	z.lie(b, func(m *bundle.Manifest, p *bundle.Predicate) { p.Images = p.Images[1:] })
	res, err := z.apply(b)
	if err == nil {
		t.Fatal("applied")
	}
	z.assertRefusedBeforeSteps(res, receipt.CheckManifest)
}
