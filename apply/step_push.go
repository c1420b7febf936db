package apply

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/oci"
	"airlock.dev/airlock/internal/printable"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// A push step pushes images of the bundle from the staged OCI layout
// (images/) to the zone's registry (trust.yaml's registry:). Before
// anything is pushed, every blob of every image the step pushes is hashed
// again and must match the signed manifest. Then each image is pushed by
// digest (the registry is asked for each blob first, and only those it
// lacks are uploaded), tagged as the source was (a tag pointing at another
// digest is moved only with retag: true), and read back: the registry must
// answer the manifest's digest. Pushing again what is there uploads
// nothing, so a push re-run after an interruption ends in the same state.

// pushStep runs a push step and records each image in the receipt.
func (a *applier) pushStep(r *stepRun) bool {
	rs := r.rs
	rs.Started, rs.Attempts = a.o.Now().UTC(), 1
	reg := a.o.Trust.Registry
	if reg == nil {
		return r.fail(a.o.Now(), errors.New("trust.yaml names no registry: (the zone's registry to push images to)"))
	}
	images := r.step.Push.Select(r.vr.Manifest)
	dir := filepath.Join(r.staged.Root, bundle.ImagesRoot)
	for i := range images {
		if err := checkImageBlobs(r.ctx, dir, &images[i]); err != nil {
			return r.fail(a.o.Now(), fmt.Errorf("image %s: %w; nothing was pushed", images[i].Name, err))
		}
	}
	p, err := newPusher(r.ctx, reg, dir)
	if err != nil {
		return r.fail(a.o.Now(), err)
	}
	ctx := r.ctx
	if r.step.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.step.Timeout))
		defer cancel()
	}
	p.ctx = ctx
	var failed []string
	for i := range images {
		im := &images[i]
		rec := receipt.Image{Name: im.Name, Source: im.Source, Digest: im.Digest, Registry: reg.Host, Tag: im.Tag, Step: r.step.Name}
		ref, outcome, err := p.push(im, r.step.Retag)
		rec.Reference, rec.Outcome = ref, outcome
		if err != nil {
			rec.Outcome, rec.Error = receipt.ImageFailed, r.masker.String(err.Error())
			failed = append(failed, im.Name)
			fmt.Fprintf(a.o.Stderr, "airlock: image %s: %s\n", printable.String(im.Name), printable.String(rec.Error))
		} else {
			fmt.Fprintf(a.o.Stdout, "image %s: %s %s\n", printable.String(im.Name), outcome, printable.String(ref))
		}
		a.recordImage(rec)
		// The journal's receipt names each image as soon as it is pushed:
		// a receipt written after an interruption says what reached the
		// registry.
		if err := a.state.save(a.j, jStepStart); err != nil {
			return r.fail(a.o.Now(), err)
		}
		if a.o.afterImage != nil {
			a.o.afterImage(im.Name)
		}
	}
	if len(failed) > 0 {
		return r.fail(a.o.Now(), fmt.Errorf("image(s) %s not pushed to %s (see the receipt's images)", strings.Join(failed, ", "), reg.Host))
	}
	rs.Finished, rs.Result = a.o.Now().UTC(), receipt.StepSucceeded
	return true
}

// recordImage puts rec in the receipt, in place of an earlier push of the
// same image (a step run again after an interruption).
func (a *applier) recordImage(rec receipt.Image) {
	for i, old := range a.j.Receipt.Images {
		if old.Name == rec.Name {
			a.j.Receipt.Images[i] = rec
			return
		}
	}
	a.j.Receipt.Images = append(a.j.Receipt.Images, rec)
}

// checkImageBlobs hashes every blob of im in the layout at dir and
// compares it with the signed manifest.
func checkImageBlobs(ctx context.Context, dir string, im *bundle.ImageRef) error {
	buf := make([]byte, 256<<10)
	for _, b := range im.Blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(bundle.BlobPath(b.Digest), bundle.ImagesRoot+"/"))))
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, io.LimitReader(f, b.Size+1), buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); n != b.Size || got != b.Digest {
			return fmt.Errorf("blob %s does not match the signed manifest (%d bytes with digest %s)", b.Digest, n, got)
		}
	}
	return nil
}

// pusher pushes images of a layout to the zone's registry.
type pusher struct {
	ctx  context.Context
	reg  *zone.Registry
	path layout.Path
	auth authn.Authenticator
	tr   http.RoundTripper
}

func newPusher(ctx context.Context, reg *zone.Registry, dir string) (*pusher, error) {
	p := &pusher{ctx: ctx, reg: reg, path: layout.Path(dir), auth: authn.Anonymous}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the zone's registry is reached directly
	if reg.CAFile != "" {
		pem, err := capped.ReadFile(reg.CAFile, maxCAFile)
		if err != nil {
			return nil, fmt.Errorf("registry caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("registry caFile %s: no PEM certificate in it", reg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	p.tr = tr
	if reg.Username != "" {
		pw, err := reg.Password.Read()
		if err != nil {
			return nil, fmt.Errorf("registry password: %w", err)
		}
		p.auth = &authn.Basic{Username: reg.Username, Password: pw}
	}
	return p, nil
}

func (p *pusher) options() []remote.Option {
	return []remote.Option{remote.WithContext(p.ctx), remote.WithAuth(p.auth), remote.WithTransport(p.tr)}
}

// repository is where im goes: <host>/<prefix><repository>.
func (p *pusher) repository(im *bundle.ImageRef) (name.Repository, error) {
	var opts []name.Option
	if p.reg.Insecure {
		opts = append(opts, name.Insecure)
	}
	return name.NewRepository(p.reg.Host+"/"+p.reg.Prefix+im.Repository, append(opts, name.StrictValidation)...)
}

// taggable is an image or an index of the layout.
type taggable interface {
	remote.Taggable
	Digest() (v1.Hash, error)
}

// push pushes im by digest, tags it, reads it back, and returns its
// reference by digest and the outcome.
func (p *pusher) push(im *bundle.ImageRef, retag bool) (string, string, error) {
	repo, err := p.repository(im)
	if err != nil {
		return "", "", err
	}
	byDigest := repo.Digest(im.Digest)
	ref := byDigest.String()
	idx, err := p.path.ImageIndex()
	if err != nil {
		return ref, "", fmt.Errorf("the staged layout: %w", err)
	}
	h, err := v1.NewHash(im.Digest)
	if err != nil {
		return ref, "", err
	}
	var t taggable
	if oci.IsIndexType(im.MediaType) {
		ii, err := idx.ImageIndex(h)
		if err != nil {
			return ref, "", err
		}
		t = ii
	} else {
		img, err := idx.Image(h)
		if err != nil {
			return ref, "", err
		}
		t = img
	}
	outcome := receipt.ImagePresent
	if d, err := remote.Head(byDigest, p.options()...); err != nil || d.Digest.String() != im.Digest {
		if err != nil && !isNotFound(err) {
			return ref, "", registryError(err)
		}
		outcome = receipt.ImagePushed
		switch x := t.(type) {
		case v1.ImageIndex:
			err = remote.WriteIndex(byDigest, x, p.options()...)
		case v1.Image:
			err = remote.Write(byDigest, x, p.options()...)
		}
		if err != nil {
			return ref, "", registryError(err)
		}
	}
	if im.Tag != "" {
		tag := repo.Tag(im.Tag)
		d, err := remote.Head(tag, p.options()...)
		switch {
		case err != nil && !isNotFound(err):
			return ref, "", registryError(err)
		case err == nil && d.Digest.String() == im.Digest:
		case err == nil && !retag:
			outcome = receipt.ImageTagKept
		default:
			if err := remote.Tag(tag, t, p.options()...); err != nil {
				return ref, "", registryError(err)
			}
			outcome = receipt.ImagePushed
		}
	}
	if err := p.pushSignatures(repo, im); err != nil {
		return ref, "", err
	}
	d, err := remote.Head(byDigest, p.options()...)
	if err != nil {
		return ref, "", fmt.Errorf("read back: %w", registryError(err))
	}
	if d.Digest.String() != im.Digest {
		return ref, "", fmt.Errorf("read back: the registry answers %s for %s", d.Digest, im.Digest)
	}
	return ref, outcome, nil
}

// isNotFound reports whether the registry said it has no such manifest.
func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// registryError says what the registry answered, without the request's
// details a user need not see twice.
func registryError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("the registry refused the credentials: %w", err)
	}
	return err
}

// setImageBuiltins defines #{Airlock.Images.<name>.Reference|Digest|Tag}
// for every image of the manifest: where a push step pushes it.
func (v *variables) setImageBuiltins(m *bundle.Manifest, reg *zone.Registry) {
	for _, im := range m.Images {
		if reg != nil {
			v.builtins[bundle.Builtin(bundle.ImageBuiltin(im.Name, "Reference"))] = reg.Host + "/" + reg.Prefix + im.Repository + "@" + im.Digest
		}
		v.builtins[bundle.Builtin(bundle.ImageBuiltin(im.Name, "Digest"))] = im.Digest
		v.builtins[bundle.Builtin(bundle.ImageBuiltin(im.Name, "Tag"))] = im.Tag
	}
}

// pushedImages adds to seen (the images of newer receipts) those of an
// older receipt's images that did not fail and are not there yet.
func pushedImages(seen, older []receipt.Image) []receipt.Image {
	for _, im := range older {
		if im.Outcome == receipt.ImageFailed || slices.ContainsFunc(seen, func(s receipt.Image) bool { return s.Name == im.Name }) {
			continue
		}
		seen = append(seen, im)
	}
	return seen
}

// pushSignatures pushes the cosign signatures that travel with im under
// cosign's tag, sha256-<hex>.sig, so that cosign verify finds them in the
// zone's registry.
func (p *pusher) pushSignatures(repo name.Repository, im *bundle.ImageRef) error {
	for _, s := range im.Signatures {
		h, err := v1.NewHash(s)
		if err != nil {
			return err
		}
		sig, err := p.path.Image(h)
		if err != nil {
			return fmt.Errorf("signature %s: %w", s, err)
		}
		if err := remote.Write(repo.Tag(bundle.SignatureTag(im.SignedDigest())), sig, p.options()...); err != nil {
			return fmt.Errorf("signature %s: %w", s, registryError(err))
		}
	}
	return nil
}

// PlanImage is an image of the bundle as plan shows it: its
// #{Airlock.Images.<name>.*} values, Reference empty when trust.yaml names
// no registry.
type PlanImage struct {
	Name      string `json:"name"`
	Source    string `json:"source"`
	Digest    string `json:"digest"`
	Tag       string `json:"tag,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// planImages lists the manifest's images with the values vars gives them.
func planImages(m *bundle.Manifest, vars *variables) []PlanImage {
	var out []PlanImage
	for _, im := range m.Images {
		ref, _ := vars.lookup(bundle.ImageBuiltin(im.Name, "Reference"))
		out = append(out, PlanImage{Name: im.Name, Source: im.Source, Digest: im.Digest, Tag: im.Tag, Reference: ref})
	}
	return out
}
