package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestParseManifest(t *testing.T) {
	d := digest("x")
	good := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":2}]}`, MediaTypeManifest, d, d)
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":3,"platform":{"os":"linux","architecture":"amd64"}}]}`, MediaTypeManifest, d)
	tests := []struct {
		name, mediaType, data, err string
	}{
		{"manifest", MediaTypeManifest, good, ""},
		{"index", MediaTypeIndex, index, ""},
		{"wrong type", MediaTypeIndex, good, "mediaType"},
		{"index as manifest", MediaTypeManifest, index, "want a config"},
		{"not a manifest type", "application/json", good, "not a manifest"},
		{"schema 1", MediaTypeManifest, strings.Replace(good, `"schemaVersion":2`, `"schemaVersion":1`, 1), "schemaVersion"},
		{"bad digest", MediaTypeManifest, strings.Replace(good, d, "sha256:ABC", 1), "digest"},
		{"md5 digest", MediaTypeManifest, strings.Replace(good, d, "md5:"+d[7:39], 1), "digest"},
		{"negative size", MediaTypeManifest, strings.Replace(good, `"size":2`, `"size":-2`, 1), "negative"},
		{"bad media type", MediaTypeManifest, strings.Replace(good, "application/vnd.oci.image.layer.v1.tar+gzip", "tar gzip", 1), "media type"},
		{"trailing data", MediaTypeManifest, good + "{}", "after the document"},
		{"child not a manifest", MediaTypeIndex, strings.Replace(index, MediaTypeManifest, "application/octet-stream", 1), "not a manifest"},
		{"too large", MediaTypeManifest, good + strings.Repeat(" ", MaxManifestSize), "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest(tt.mediaType, []byte(tt.data))
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Blobs()) == 0 {
					t.Fatal("no blobs")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestWalkSharesBlobs(t *testing.T) {
	layer := Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest("layer"), Size: 5}
	mk := func(cfg string) string {
		return fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":1},"layers":[{"mediaType":%q,"digest":%q,"size":5}]}`, digest(cfg), layer.MediaType, layer.Digest)
	}
	a, b := mk("a"), mk("b")
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d},{"mediaType":%q,"digest":%q,"size":%d}]}`,
		MediaTypeManifest, digest(a), len(a), MediaTypeManifest, digest(b), len(b))
	blobs := map[string]string{digest(a): a, digest(b): b, digest(idx): idx}
	got, err := Walk(Descriptor{MediaType: MediaTypeIndex, Digest: digest(idx), Size: int64(len(idx))}, func(d Descriptor) ([]byte, error) {
		return []byte(blobs[d.Digest]), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// index, manifest a, config a, layer, manifest b, config b: the layer once.
	if len(got) != 6 {
		t.Fatalf("got %d blobs, want 6: %v", len(got), got)
	}
}

func TestWalkRefusesDeepNesting(t *testing.T) {
	// An index whose child is itself, under another digest each time.
	n := 0
	_, err := Walk(Descriptor{MediaType: MediaTypeIndex, Digest: digest("0"), Size: 1}, func(d Descriptor) ([]byte, error) {
		n++
		return fmt.Appendf(nil, `{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":1}]}`, MediaTypeIndex, digest(fmt.Sprint(n))), nil
	})
	if err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	d := digest("x")
	f.Add(MediaTypeManifest, []byte(fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":"a/b","digest":%q,"size":1},"layers":[]}`, d)))
	f.Add(MediaTypeIndex, []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":1}]}`, MediaTypeManifest, d)))
	f.Add(MediaTypeDockerList, []byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Fuzz(func(t *testing.T, mediaType string, data []byte) {
		m, err := ParseManifest(mediaType, data)
		if err != nil {
			return
		}
		for _, b := range m.Blobs() {
			if !ValidDigest(b.Digest) || b.Size < 0 {
				t.Fatalf("accepted descriptor %+v", b)
			}
		}
		if m.Index != IsIndexType(mediaType) {
			t.Fatal("index flag does not follow the media type")
		}
	})
}
