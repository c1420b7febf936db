// Command imageseed fills a registry with the images-demo's upstream
// content: two images sharing a base layer (a busybox binary, or any file
// given with -base), and a Helm-chart-like OCI artifact.
//
//	imageseed -registry 127.0.0.1:5001 [-base /bin/busybox]
//	imageseed -htpasswd USER:PASSWORD
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/bcrypt"
)

func main() {
	registry := flag.String("registry", "", "registry host:port (required)")
	base := flag.String("base", "/bin/busybox", "file carried as the shared base layer, as bin/busybox")
	htpasswd := flag.String("htpasswd", "", "print the htpasswd line (bcrypt) of USER:PASSWORD and exit")
	bench := flag.Int("bench", 0, "instead: push this many images (bench/img-N:1) of about -mib MiB in all, sharing base layers")
	mib := flag.Int("mib", 1024, "with -bench: the images' size in MiB, each blob counted once")
	flag.Parse()
	if user, pw, ok := strings.Cut(*htpasswd, ":"); ok {
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s:%s\n", user, hash)
		return
	}
	if *registry == "" {
		log.Fatal("imageseed: -registry is required")
	}
	if *bench > 0 {
		benchImages(*registry, *bench, *mib)
		return
	}
	bin, err := os.ReadFile(*base)
	if err != nil {
		log.Fatal(err)
	}
	baseLayer := layer(map[string][]byte{"bin/busybox": bin})
	push(*registry+"/shop/web:1.4.2", image(baseLayer, layer(map[string][]byte{"srv/www/index.html": []byte("<p>shop web 1.4.2</p>\n")})))
	push(*registry+"/shop/api:2.0.1", image(baseLayer, layer(map[string][]byte{"srv/api/api.conf": []byte("port=8080\n")})))
	push(*registry+"/charts/shop:0.3.0", chart())
}

// layer is a gzip-compressed tar of files.
func layer(files map[string][]byte) v1.Layer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	tw.Close()
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		log.Fatal(err)
	}
	return l
}

func image(layers ...v1.Layer) v1.Image {
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		log.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/bin/busybox", "httpd", "-f", "-h", "/srv/www"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		log.Fatal(err)
	}
	return img
}

// chart is an OCI artifact as helm push makes one: a chart config and
// the chart's .tgz as its one layer.
func chart() v1.Image {
	var tgz bytes.Buffer
	zw := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{
		{"shop/Chart.yaml", "apiVersion: v2\nname: shop\nversion: 0.3.0\n"},
		{"shop/values.yaml", "image: shop/web:1.4.2\n"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.cncf.helm.config.v1+json")
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(tgz.Bytes(), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")})
	if err != nil {
		log.Fatal(err)
	}
	// helm's config: the chart's metadata.
	return &configured{Image: img, config: []byte(`{"name":"shop","version":"0.3.0","apiVersion":"v2"}`)}
}

// configured replaces an image's config blob (a chart's is not an image
// configuration).
type configured struct {
	v1.Image
	config []byte
}

func (c *configured) RawConfigFile() ([]byte, error) { return c.config, nil }

func (c *configured) ConfigName() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(c.config))
	return h, err
}

func (c *configured) Manifest() (*v1.Manifest, error) {
	m, err := c.Image.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	h, _ := c.ConfigName()
	m.Config.Digest, m.Config.Size = h, int64(len(c.config))
	return m, nil
}

func (c *configured) RawManifest() ([]byte, error) {
	m, err := c.Manifest()
	if err != nil {
		return nil, err
	}
	return jsonMarshal(m)
}

func (c *configured) Digest() (v1.Hash, error) {
	raw, err := c.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	return h, err
}

func (c *configured) Size() (int64, error) {
	raw, err := c.RawManifest()
	return int64(len(raw)), err
}

func push(ref string, img v1.Image) {
	tag, err := name.NewTag(ref)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		log.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	fmt.Printf("upstream %s@%s\n", ref, d)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// benchImages pushes n images of about mib MiB in all (each blob counted
// once), as a fleet's images are: a base layer every image shares (25%),
// a runtime layer half of them share (15%), and a layer of each one's own
// (60% / n). Layer content is random: pulled layers are compressed already.
func benchImages(registry string, n, mib int) {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(bytes int) v1.Layer {
		b := make([]byte, bytes)
		for i := 0; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
		}
		return static.NewLayer(b, types.OCILayer)
	}
	total := mib << 20
	base, runtime := blob(total/4), blob(total*15/100)
	for i := range n {
		layers := []v1.Layer{base}
		if i%2 == 0 {
			layers = append(layers, runtime)
		}
		layers = append(layers, blob(total*60/100/n))
		push(fmt.Sprintf("%s/bench/img-%d:1", registry, i), image(layers...))
	}
}
