package bundle

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"airlock.dev/airlock/internal/capped"
)

// An image's verify: {key: FILE} checks, at build, its cosign signature
// made with that key: cosign's "simple signing" signature, found by the
// tag scheme (sha256-<hex>.sig beside the image in its repository). Each
// layer of that manifest is a simple signing payload, signed in the
// dev.cosignproject.cosign/signature annotation; one must verify with the
// key and name the image's digest. The signature manifest then travels in
// the bundle (ImageRef.Signatures) and a push step pushes it under the
// same tag, so that the zone can check it again with cosign.

// Cosign's media type and annotation of a simple signing layer.
const (
	cosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSignatureAnn  = "dev.cosignproject.cosign/signature"
	maxVerifyKeySize    = 64 << 10
	maxSignaturePayload = 1 << 20
)

// SignatureTag is the tag of the cosign signature of digest: sha256-<hex>.sig.
func SignatureTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

// SignedDigest is the digest the image's signatures sign: the upstream
// index when platforms selected part of it, else the image's own.
func (im *ImageRef) SignedDigest() string {
	if im.UpstreamDigest != "" {
		return im.UpstreamDigest
	}
	return im.Digest
}

// verifySignature finds the cosign signature of digest (the image as its
// ref resolved) beside fi in its registry, checks it with the image's
// key, and returns the signature manifest.
func (f *imageFetcher) verifySignature(im *Image, fi *fetchedImage, digest v1.Hash) (v1.Image, error) {
	if fi.repo == nil {
		return nil, errors.New("verify: signatures are checked for images pulled from a registry (ref: alone)")
	}
	pem, err := capped.ReadFile(filepath.Join(f.dir, filepath.FromSlash(im.VerifyKey)), maxVerifyKeySize)
	if err != nil {
		return nil, fmt.Errorf("verify key: %w", err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pem)
	if err != nil {
		return nil, fmt.Errorf("verify key %s: %w", im.VerifyKey, err)
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("verify key %s: %w", im.VerifyKey, err)
	}
	tag := fi.repo.Tag(SignatureTag(digest.String()))
	sig, err := remote.Image(tag, f.remoteOptions()...)
	if err != nil {
		return nil, fmt.Errorf("no cosign signature at %s: %w", tag, err)
	}
	m, err := sig.Manifest()
	if err != nil {
		return nil, fmt.Errorf("signature %s: %w", tag, err)
	}
	var problems []string
	for _, l := range m.Layers {
		if l.MediaType != cosignSimpleSigning {
			continue
		}
		if err := checkSimpleSigning(sig, l, verifier, digest); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		return sig, nil
	}
	if len(problems) == 0 {
		problems = append(problems, "it holds no simple signing layer")
	}
	return nil, fmt.Errorf("no valid cosign signature by %s at %s: %s", im.VerifyKey, tag, strings.Join(problems, "; "))
}

// checkSimpleSigning checks one signature layer l of sig: its payload
// verifies with verifier and names digest.
func checkSimpleSigning(sig v1.Image, l v1.Descriptor, verifier signature.Verifier, digest v1.Hash) error {
	b64 := l.Annotations[cosignSignatureAnn]
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || b64 == "" {
		return fmt.Errorf("layer %s: no base64 signature annotation", l.Digest)
	}
	if l.Size > maxSignaturePayload {
		return fmt.Errorf("layer %s: payload of %d bytes", l.Digest, l.Size)
	}
	layer, err := sig.LayerByDigest(l.Digest)
	if err != nil {
		return err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxSignaturePayload+1))
	rc.Close()
	if err != nil {
		return err
	}
	if err := verifier.VerifySignature(bytes.NewReader(raw), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("layer %s: the signature does not verify with the key", l.Digest)
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("layer %s: payload: %w", l.Digest, err)
	}
	switch {
	case p.Critical.Type != payload.CosignSignatureType:
		return fmt.Errorf("layer %s: payload of type %q", l.Digest, p.Critical.Type)
	case p.Critical.Image.DockerManifestDigest != digest.String():
		return fmt.Errorf("layer %s: signs %s, not %s", l.Digest, p.Critical.Image.DockerManifestDigest, digest)
	}
	return nil
}

// repository is the registry repository of a reference.
func repositoryOf(ref name.Reference) *name.Repository {
	r := ref.Context()
	return &r
}
