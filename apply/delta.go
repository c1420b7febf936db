package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"airlock.dev/airlock/apply/stage"
	"airlock.dev/airlock/apply/store"
	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/chunks"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/verify"
)

// BaseMissingError is a delta bundle whose base content the host's
// content store does not hold, or holds changed: the apply is refused
// before anything ran (reason base-missing).
type BaseMissingError struct {
	Object string // the first object missing (a digest)
	Path   string // the file of the release it is (part of)
	// Claimed is the receipt that said the host holds it: this host's,
	// when the bundle names one.
	Claimed *bundle.DeltaBase
	Why     string
}

func (e *BaseMissingError) Error() string {
	claim := "no receipt of this host is among the delta's base"
	if c := e.Claimed; c != nil {
		claim = fmt.Sprintf("receipt %d of host %s (statement %s) listed it", c.Seq, c.Host, c.Receipt[:12])
	}
	return fmt.Sprintf("delta base: object %s (%s) %s; %s: build the bundle without --since, or --since the newer receipts of this host",
		e.Object[:12], e.Path, e.Why, claim)
}

// chunkRef is where the store holds a chunk: in which object, at which
// offset.
type chunkRef struct {
	object [sha256.Size]byte
	offset int64
	size   int64
}

// base is what a delta apply takes from the content store: the objects
// the store holds for the bundle's application (never another's) and
// their chunks.
type base struct {
	s       *store.Store
	held    map[string]bool
	chunks  map[[sha256.Size]byte]chunkRef
	claimed *bundle.DeltaBase
	objects int
	bytes   int64
}

// openBase checks, before the payload is read, that the store holds
// every object the delta takes from it, for this application: a missing
// object refuses the apply. Their content is checked as it is copied
// (assemble), before any step runs.
func (a *applier) openBase(m *bundle.Manifest) (*base, error) {
	d := m.Delta
	b := &base{}
	for i := range d.Base {
		if d.Base[i].Host == a.host {
			b.claimed = &d.Base[i]
		}
	}
	s, err := store.Open(a.state.dir)
	if err != nil {
		return nil, err
	}
	b.s = s
	if b.held, err = s.Held(a.application()); err != nil {
		s.Close()
		return nil, err
	}
	files := fileSums(m)
	missing := func(obj, p, why string) error {
		s.Close()
		return &BaseMissingError{Object: obj, Path: p, Claimed: b.claimed, Why: why}
	}
	for _, df := range d.Files {
		if df.Base {
			if sum := files[df.Path]; !b.holds(sum) {
				return nil, missing(sum, df.Path, "is not in the content store")
			}
			continue
		}
		if b.chunks == nil {
			if b.chunks, err = b.index(); err != nil {
				s.Close()
				return nil, err
			}
		}
		for _, c := range df.Chunks {
			var sum [sha256.Size]byte
			hex.Decode(sum[:], []byte(c.SHA256))
			if r, ok := b.chunks[sum]; c.Base && (!ok || r.size != c.Size) {
				return nil, missing(c.SHA256, df.Path, "is not in the content store")
			}
		}
	}
	return b, nil
}

func (b *base) holds(sum string) bool {
	var d [sha256.Size]byte
	_, err := hex.Decode(d[:], []byte(sum))
	return err == nil && b.held[sum] && b.s.Has(d)
}

// index maps every chunk of the held objects to where it is.
func (b *base) index() (map[[sha256.Size]byte]chunkRef, error) {
	out := map[[sha256.Size]byte]chunkRef{}
	for h := range b.held {
		var obj [sha256.Size]byte
		if _, err := hex.Decode(obj[:], []byte(h)); err != nil || !b.s.Has(obj) {
			continue
		}
		cs, err := b.s.Chunks(obj)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out[c.SHA256] = chunkRef{object: obj, offset: c.Offset, size: c.Size}
		}
	}
	return out, nil
}

func (b *base) close() {
	if b != nil && b.s != nil {
		b.s.Close()
	}
}

func fileSums(m *bundle.Manifest) map[string]string {
	out := make(map[string]string, len(m.Files))
	for _, f := range m.Files {
		out[f.Path] = f.SHA256
	}
	return out
}

// assemble puts every file of a delta together in the staging directory,
// from the payload's entries and the content store, so that it holds
// exactly what a full bundle's payload would have staged: each file is
// checked against its full digest in the signed manifest, and each piece
// taken from the store against its own digest (a changed store refuses
// the apply, base-missing). Nothing has run yet.
func (a *applier) assemble(staged *stage.Staged, m *bundle.Manifest, b *base) error {
	root, err := os.OpenRoot(staged.Root)
	if err != nil {
		return err
	}
	defer root.Close()
	files := make(map[string]*bundle.File, len(m.Files))
	for i := range m.Files {
		files[m.Files[i].Path] = &m.Files[i]
	}
	rel, err := filepath.Rel(a.state.dir, staged.Root)
	if err != nil {
		return err
	}
	as := &assembly{root: root, rel: filepath.ToSlash(rel), b: b, buf: make([]byte, 256<<10), files: files}
	defer as.closeObject()
	for i := range m.Delta.Files {
		df := &m.Delta.Files[i]
		if err := as.file(df, files[df.Path]); err != nil {
			return err
		}
		if !df.Base {
			as.index(df, files[df.Path])
		}
	}
	return nil
}

// index records the chunk index of a file put together from chunks, each
// checked against its digest, so that filling the store does not cut it
// again. A failure only costs that cut.
func (as *assembly) index(df *bundle.DeltaFile, f *bundle.File) {
	var sum [sha256.Size]byte
	hex.Decode(sum[:], []byte(f.SHA256))
	var cs []chunks.Chunk
	var off int64
	for _, c := range df.Chunks {
		ch := chunks.Chunk{Offset: off, Size: c.Size}
		hex.Decode(ch.SHA256[:], []byte(c.SHA256))
		cs = append(cs, ch)
		off += c.Size
	}
	as.b.s.SetChunks(sum, cs)
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

type assembly struct {
	root  *os.Root
	rel   string // the staging directory, relative to the state directory
	b     *base
	buf   []byte
	files map[string]*bundle.File
	// the store object open for reading chunks from
	obj    *os.File
	objSum [sha256.Size]byte
}

func (as *assembly) closeObject() {
	if as.obj != nil {
		as.obj.Close()
		as.obj = nil
	}
}

// file writes one file of the delta into the staging directory.
func (as *assembly) file(df *bundle.DeltaFile, f *bundle.File) error {
	if df.Base {
		if linked, err := as.linkWhole(f); linked {
			return err
		}
	}
	var carrier *os.File
	var carrierName string
	if !df.Base {
		// The payload's entry holds the shipped chunks: move it aside.
		carrierName = as.freeName(f.Path)
		if err := as.root.Rename(f.Path, carrierName); err != nil {
			return err
		}
		c, err := as.root.Open(carrierName)
		if err != nil {
			return err
		}
		defer func() {
			c.Close()
			as.root.Remove(carrierName)
		}()
		carrier = c
	}
	out, err := as.root.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	w := io.MultiWriter(out, h)
	if df.Base {
		err = as.whole(f, w)
	} else {
		err = as.chunks(df, carrier, w)
	}
	if err == nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
			err = fmt.Errorf("%s: put together from the delta it has sha256 %s, signed %s", f.Path, sum, f.SHA256)
		}
	}
	if err == nil {
		err = out.Chmod(os.FileMode(f.Mode))
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// freeName is a name beside p that no file of the manifest has.
func (as *assembly) freeName(p string) string {
	for n := 0; ; n++ {
		c := fmt.Sprintf("%s.delta-%d", p, n)
		if as.files[c] == nil {
			return c
		}
	}
}

// linkWhole makes f in the staging directory a hard link to its object
// in the store, and checks the object's content; ok is false when the
// file system cannot link (the caller copies). The link is fast: the
// store and a deployed release then share the file, as after a full
// apply (see fillStore).
func (as *assembly) linkWhole(f *bundle.File) (ok bool, err error) {
	var sum [sha256.Size]byte
	hex.Decode(sum[:], []byte(f.SHA256))
	if err := as.b.s.LinkObject(sum, as.rel+"/"+f.Path); err != nil {
		return false, nil
	}
	in, err := as.root.Open(f.Path)
	if err != nil {
		return true, err
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, in, as.buf)
	if err != nil {
		return true, err
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) || n != f.Size {
		return true, as.missing(f.SHA256, f.Path, "was changed in the content store")
	}
	as.b.objects++
	as.b.bytes += n
	return true, in.Chmod(os.FileMode(f.Mode))
}

// whole copies the object of f's digest from the store, checking it.
func (as *assembly) whole(f *bundle.File, w io.Writer) error {
	var sum [sha256.Size]byte
	hex.Decode(sum[:], []byte(f.SHA256))
	in, err := as.b.s.OpenObject(sum)
	if err != nil {
		return as.missing(f.SHA256, f.Path, "is not in the content store")
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(w, h), in, as.buf)
	if err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) || n != f.Size {
		return as.missing(f.SHA256, f.Path, "was changed in the content store")
	}
	as.b.objects++
	as.b.bytes += n
	return nil
}

// chunks writes a file's chunks: the base ones from the store, checked,
// the others from the carrier, in order.
func (as *assembly) chunks(df *bundle.DeltaFile, carrier io.Reader, w io.Writer) error {
	for _, c := range df.Chunks {
		buf := as.buf[:c.Size]
		if !c.Base {
			if _, err := io.ReadFull(carrier, buf); err != nil {
				return fmt.Errorf("%s: the payload's entry is shorter than its chunks: %w", df.Path, err)
			}
			if hex.EncodeToString(sha256Of(buf)) != c.SHA256 {
				return fmt.Errorf("%s: a chunk of the payload's entry does not have its signed digest %s", df.Path, c.SHA256[:12])
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
			continue
		}
		var sum [sha256.Size]byte
		hex.Decode(sum[:], []byte(c.SHA256))
		r, ok := as.b.chunks[sum]
		if !ok {
			return as.missing(c.SHA256, df.Path, "is not in the content store")
		}
		if err := as.open(r.object); err != nil {
			return as.missing(c.SHA256, df.Path, "is not in the content store")
		}
		if _, err := as.obj.ReadAt(buf, r.offset); err != nil || sha256.Sum256(buf) != sum {
			return as.missing(c.SHA256, df.Path, "was changed in the content store")
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		as.b.objects++
		as.b.bytes += c.Size
	}
	return nil
}

func (as *assembly) open(obj [sha256.Size]byte) error {
	if as.obj != nil && as.objSum == obj {
		return nil
	}
	as.closeObject()
	f, err := as.b.s.OpenObject(obj)
	if err != nil {
		return err
	}
	as.obj, as.objSum = f, obj
	return nil
}

func (as *assembly) missing(obj, p, why string) error {
	return &BaseMissingError{Object: obj, Path: p, Claimed: as.b.claimed, Why: why}
}

// recordDelta records in the receipt that the bundle was a delta, its
// base, and what came from the content store.
func (a *applier) recordDelta(m *bundle.Manifest, b *base) {
	d := &receipt.Delta{BaseObjects: b.objects, BaseBytes: b.bytes}
	for _, r := range m.Delta.Base {
		d.Base = append(d.Base, r.Receipt)
	}
	a.j.Receipt.Delta = d
}

// refuseBase refuses an apply whose delta base is missing or changed
// (base-missing), or whose store could not be read (staging).
func (a *applier) refuseBase(err error) (*Result, error) {
	var bm *BaseMissingError
	if !errors.As(err, &bm) {
		a.record(receipt.CheckExtract, receipt.Fail, err.Error())
		return a.refuse(receipt.ReasonStaging, "delta base: "+err.Error(), err)
	}
	a.record(receipt.CheckExtract, receipt.Fail, err.Error())
	return a.refuse(receipt.ReasonBaseMissing, err.Error(), err)
}

// planBase says, for plan, what apply would of a delta's base: refused
// (base-missing) when the store lacks an object. Contents are checked by
// apply only (plan reads no more than the store's records).
func (a *applier) planBase(vr *verify.Result) error {
	if vr.Manifest.Delta == nil {
		return nil
	}
	a.j.Receipt.Bundle.Name = vr.Statement.Predicate.Name
	b, err := a.openBase(vr.Manifest)
	if err != nil {
		var bm *BaseMissingError
		if errors.As(err, &bm) {
			return &RefusedError{Reason: receipt.ReasonBaseMissing, Err: err}
		}
		return err
	}
	b.close()
	return nil
}
