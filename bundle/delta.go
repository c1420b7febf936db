package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"airlock.dev/airlock/internal/chunks"
	"airlock.dev/airlock/internal/progress"
)

// Delta (format version 3, manifest field `delta`) says which content of
// a delta bundle is not in its payload but in the zone: held, by the
// receipts named in Base, by every host the bundle was built for (see
// doc/design.md, "Delta bundles"). Files still lists every file with its
// full size and digest; Delta.Files lists those whose content, in whole
// or in part, comes from the host's content store, by path.
type Delta struct {
	// Base is the receipts whose inventories the builder trusted, one per
	// target host: each apply checks its own store holds every base object
	// before anything changes.
	Base  []DeltaBase `json:"base"`
	Files []DeltaFile `json:"files"`
}

// DeltaBase is a receipt a delta was built from: the host that signed it,
// its sequence number in that host's chain and the SHA-256 of its
// statement (the DSSE payload).
type DeltaBase struct {
	Host    string `json:"host"`
	Seq     uint64 `json:"seq"`
	Receipt string `json:"receipt"`
}

// DeltaFile is a file whose content comes from the zone: whole (Base), or
// chunk by chunk, the base chunks from the store and the others, in
// order, from the payload's entry of the file, which then holds
// ShippedSize bytes of digest ShippedSHA256.
type DeltaFile struct {
	Path          string       `json:"path"`
	Base          bool         `json:"base,omitempty"`
	Chunks        []DeltaChunk `json:"chunks,omitempty"`
	ShippedSize   int64        `json:"shippedSize,omitempty"`
	ShippedSHA256 string       `json:"shippedSha256,omitempty"`
}

// DeltaChunk is one content-defined chunk of a file (internal/chunks).
type DeltaChunk struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Base   bool   `json:"base,omitempty"`
}

// DeltaSummary is how much of a release a delta leaves out.
type DeltaSummary struct {
	ReleaseBytes  int64 `json:"releaseBytes"` // of the release's files
	LeftOutBytes  int64 `json:"leftOutBytes"` // of those, not in the payload
	LeftOutFiles  int   `json:"leftOutFiles"` // files left out whole
	LeftOutChunks int   `json:"leftOutChunks"`
}

// DeltaSummary sums up what a delta manifest leaves out; nil when the
// manifest is not a delta.
func (m *Manifest) DeltaSummary() *DeltaSummary {
	if m.Delta == nil {
		return nil
	}
	s := &DeltaSummary{}
	size := make(map[string]int64, len(m.Files))
	for _, f := range m.Files {
		size[f.Path] = f.Size
		s.ReleaseBytes += f.Size
	}
	for _, f := range m.Delta.Files {
		if f.Base {
			s.LeftOutFiles++
			s.LeftOutBytes += size[f.Path]
			continue
		}
		for _, c := range f.Chunks {
			if c.Base {
				s.LeftOutChunks++
				s.LeftOutBytes += c.Size
			}
		}
	}
	return s
}

// validate checks a manifest's delta against its files.
func (d *Delta) validate(files []File) error {
	if len(d.Base) == 0 {
		return errors.New("delta: no base receipt")
	}
	seen := map[string]bool{}
	for i, b := range d.Base {
		if !isSHA256(b.Receipt) || !nameRule.valid(b.Host) || b.Seq == 0 || seen[b.Host] {
			return fmt.Errorf("delta.base[%d]: want a host (once), its receipt's seq and statement sha256", i)
		}
		seen[b.Host] = true
	}
	byPath := make(map[string]*File, len(files))
	for i := range files {
		byPath[files[i].Path] = &files[i]
	}
	prev := ""
	for i, df := range d.Files {
		f := byPath[df.Path]
		switch {
		case i > 0 && df.Path <= prev:
			return fmt.Errorf("delta.files[%d]: %q is not sorted after %q (or is a duplicate)", i, df.Path, prev)
		case f == nil || f.Type != TypeFile:
			return fmt.Errorf("delta.files[%d]: %q is not a file of the manifest", i, df.Path)
		}
		prev = df.Path
		if df.Base {
			if len(df.Chunks) != 0 || df.ShippedSize != 0 || df.ShippedSHA256 != "" {
				return fmt.Errorf("delta.files[%d]: %q comes whole from the base: no chunks, nothing shipped", i, df.Path)
			}
			continue
		}
		if err := df.checkChunks(f.Size); err != nil {
			return fmt.Errorf("delta.files[%d]: %q: %w", i, df.Path, err)
		}
	}
	return nil
}

func (df *DeltaFile) checkChunks(size int64) error {
	if len(df.Chunks) == 0 || !isSHA256(df.ShippedSHA256) {
		return errors.New("neither whole from the base nor in chunks with the digest of what is shipped")
	}
	var total, shipped int64
	var base bool
	for j, c := range df.Chunks {
		if !isSHA256(c.SHA256) || c.Size <= 0 || c.Size > chunks.MaxSize {
			return fmt.Errorf("chunk %d: want a sha256 and 1 to %d bytes", j, chunks.MaxSize)
		}
		total += c.Size
		if c.Base {
			base = true
		} else {
			shipped += c.Size
		}
	}
	switch {
	case total != size:
		return fmt.Errorf("chunks of %d bytes in all, but the file has %d", total, size)
	case shipped != df.ShippedSize:
		return fmt.Errorf("shippedSize %d, but its chunks not from the base make %d", df.ShippedSize, shipped)
	case !base:
		return errors.New("no chunk comes from the base")
	}
	return nil
}

// Shipped is the manifest as the payload carries it: the files left out
// whole are not in it, and a file in chunks is its entry of shipped bytes.
// The applier extracts the payload with it, then puts every file of the
// release together from the entries and its content store. A manifest
// that is not a delta is returned as it is.
func (m *Manifest) Shipped() *Manifest {
	if m.Delta == nil {
		return m
	}
	out := *m
	out.Delta = nil
	out.Files = make([]File, 0, len(m.Files))
	byPath := make(map[string]*DeltaFile, len(m.Delta.Files))
	for i := range m.Delta.Files {
		byPath[m.Delta.Files[i].Path] = &m.Delta.Files[i]
	}
	for _, f := range m.Files {
		if df := byPath[f.Path]; df != nil {
			if df.Base {
				continue
			}
			f.Size, f.SHA256 = df.ShippedSize, df.ShippedSHA256
		}
		out.Files = append(out.Files, f)
	}
	return &out
}

// Base is what the zone holds, for a delta build: the receipts it was
// read from, and the content every target host holds.
type Base struct {
	Receipts []DeltaBase
	// Holds reports whether every target host holds the content of digest
	// sum (a whole file or a chunk).
	Holds func(sum [sha256.Size]byte) bool
}

// deltaEntry is the builder's plan for one file of a delta.
type deltaEntry struct {
	sum    string // the whole file's digest, read in the first pass
	file   *DeltaFile
	chunks []chunks.Chunk // of a file in chunks
}

// deltaPlan is the builder's plan of a delta: by entry index, the files
// whose content is not (all) shipped, and the digest of every file read
// in the first pass, which the second must find again.
type deltaPlan struct {
	delta   *Delta
	entries map[int]*deltaEntry
	sums    map[int]string
}

// planDelta reads every file of the release once — hashing it, and
// cutting a large one into chunks — and decides what the payload leaves
// out: a file every target host holds, or the chunks of a large one they
// hold. Files are read on every core (files of archive packages, read
// through one archive reader, one at a time).
func (o *BuildOptions) planDelta(ctx context.Context, dir string, entries []source) (*deltaPlan, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	archives := newReleaseFS(root.FS(), archivesOf(entries))
	defer archives.Close()
	progress.Stage(o.Progress, "delta", contentSize(entries))
	planned := make([]*deltaEntry, len(entries))
	var progressMu sync.Mutex
	work := func(archived bool, next func() int) error {
		src := &sourceReader{root: root, archives: archives, buf: make([]byte, readBufferSize), h: sha256.New()}
		defer src.close()
		split := chunks.NewSplitter()
		for i := next(); i >= 0; i = next() {
			e := &entries[i]
			// Images are not left out of a delta: the zone's store holds
			// release files, not what its registry holds.
			if e.Type != TypeFile || e.staged != nil || (e.archive != nil) != archived {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			de, err := planFile(src, split, e, o.Base.Holds)
			if err != nil {
				return err
			}
			if o.Progress != nil {
				progressMu.Lock()
				o.Progress.Add(e.Size)
				progressMu.Unlock()
			}
			planned[i] = de
		}
		return nil
	}
	var mu sync.Mutex
	n := 0
	next := func() int {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(entries) {
			return -1
		}
		n++
		return n - 1
	}
	workers := max(1, min(runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = work(false, next) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	k := 0
	if err := work(true, func() int {
		if k >= len(entries) {
			return -1
		}
		k++
		return k - 1
	}); err != nil {
		return nil, err
	}
	plan := &deltaPlan{delta: &Delta{Base: o.Base.Receipts, Files: []DeltaFile{}}, entries: map[int]*deltaEntry{}, sums: map[int]string{}}
	for i, de := range planned {
		if de == nil {
			continue
		}
		plan.sums[i] = de.sum
		if de.file != nil {
			plan.entries[i] = de
			plan.delta.Files = append(plan.delta.Files, *de.file)
		}
	}
	return plan, nil
}

// planFile hashes one file (and chunks it if large) and decides what of
// it is left out.
func planFile(src *sourceReader, split *chunks.Splitter, e *source, holds func([sha256.Size]byte) bool) (*deltaEntry, error) {
	f, mode, size, err := src.open(e.src, e.archive != nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !mode.IsRegular() || size != e.Size {
		return nil, fmt.Errorf("%s: changed while building (was a regular file of %d bytes)", e.src, e.Size)
	}
	h, shipped := sha256.New(), sha256.New()
	r := io.TeeReader(io.LimitReader(bufio.NewReaderSize(f, readBufferSize), size), h)
	de := &deltaEntry{}
	df := &DeltaFile{Path: e.Path}
	var base bool
	if chunks.Large(size) {
		err = split.Split(r, func(c chunks.Chunk, data []byte) error {
			held := holds(c.SHA256)
			base = base || held
			if !held {
				df.ShippedSize += c.Size
				shipped.Write(data)
			}
			de.chunks = append(de.chunks, c)
			df.Chunks = append(df.Chunks, DeltaChunk{SHA256: hex.EncodeToString(c.SHA256[:]), Size: c.Size, Base: held})
			return nil
		})
	} else {
		_, err = io.Copy(io.Discard, r)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.src, err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	de.sum = hex.EncodeToString(sum[:])
	switch {
	case holds(sum):
		de.file = &DeltaFile{Path: e.Path, Base: true}
	case base:
		df.ShippedSHA256 = hex.EncodeToString(shipped.Sum(nil))
		de.file = df
	}
	return de, nil
}

// writeDeltaEntry writes the payload entry of a file planned in chunks:
// the bytes of its chunks not in the base, in order. It reads the file
// again, and fails if a chunk it ships changed since the first pass (the
// manifest describes the file as the first pass read it: the chunks left
// out are the zone's, whatever the file holds there now).
func (s *sourceReader) writeDeltaEntry(ctx context.Context, e *source, de *deltaEntry, header func(size int64) error, w io.Writer) error {
	f, mode, size, err := s.open(e.src, e.archive != nil)
	if err != nil {
		return err
	}
	defer f.Close()
	if !mode.IsRegular() || size != e.Size {
		return fmt.Errorf("%s: changed while building (was a regular file of %d bytes)", e.src, e.Size)
	}
	if err := header(de.file.ShippedSize); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, readBufferSize)
	for i, c := range de.chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf := s.buf[:c.Size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("%s: changed while building: %w", e.src, err)
		}
		if s.progress != nil {
			s.progress.Add(c.Size)
		}
		if de.file.Chunks[i].Base {
			continue // the zone's copy is the one the first pass hashed
		}
		// What is shipped must be what the first pass hashed.
		if sha256.Sum256(buf) != c.SHA256 {
			return fmt.Errorf("%s: changed while building", e.src)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// writeDelta writes entry i of a delta: nothing for a file left out whole,
// its shipped chunks for a file in chunks. ok is false for an entry the
// plan does not concern, which the caller writes as usual.
func (p *deltaPlan) write(ctx context.Context, src *sourceReader, i int, e *source, hdr func(size int64) error, w io.Writer) (written, ok bool, err error) {
	if p == nil {
		return false, false, nil
	}
	de := p.entries[i]
	if de == nil {
		return false, false, nil
	}
	if de.file.Base {
		if src.progress != nil {
			src.progress.Add(e.Size)
		}
		return false, true, nil
	}
	return true, true, src.writeDeltaEntry(ctx, e, de, hdr, w)
}
