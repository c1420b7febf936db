package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/writeback"
)

// partWriter writes the ciphertext into payload.age, or into
// payload.age.001, .002 … of at most limit bytes each, hashing each part.
type partWriter struct {
	dir     string
	limit   int64 // 0: one part named payload.age
	f       *os.File
	h       hash.Hash
	n       int64
	flushed int64 // bytes of the current part whose writing out was started
	total   int64
	refs    []FileRef
}

// writebackSize is how much of a part is written before the kernel is
// asked to start writing it to the disk, so that the fsync at the end of
// the part has little left to wait for.
const writebackSize = 8 << 20

// PartName is the file name of part i (1-based) of a payload split into
// parts; an unsplit payload is the single file payload.age.
func PartName(i int) string { return fmt.Sprintf("%s.%03d", PayloadFile, i) }

func (w *partWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.f == nil || (w.limit > 0 && w.n == w.limit) {
			if err := w.next(); err != nil {
				return written, err
			}
		}
		chunk := p
		if w.limit > 0 && int64(len(chunk)) > w.limit-w.n {
			chunk = chunk[:w.limit-w.n]
		}
		n, err := w.f.Write(chunk)
		w.h.Write(chunk[:n])
		w.n += int64(n)
		w.total += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
		if w.n-w.flushed >= writebackSize {
			writeback.Start(w.f.Fd(), w.flushed, w.n-w.flushed)
			w.flushed = w.n
		}
	}
	return written, nil
}

func (w *partWriter) next() error {
	if err := w.finish(); err != nil {
		return err
	}
	name := PayloadFile
	if w.limit > 0 {
		name = PartName(len(w.refs) + 1)
		if len(w.refs)+1 > MaxParts {
			return fmt.Errorf("payload needs more than %d parts; choose a larger split size", MaxParts)
		}
	}
	f, err := os.OpenFile(filepath.Join(w.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	w.f, w.h, w.n, w.flushed = f, sha256.New(), 0, 0
	w.refs = append(w.refs, FileRef{Name: name})
	return nil
}

func (w *partWriter) finish() error {
	if w.f == nil {
		return nil
	}
	last := &w.refs[len(w.refs)-1]
	last.Size, last.SHA256 = w.n, hex.EncodeToString(w.h.Sum(nil))
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// Close finishes the last part. An empty payload still gets one part.
func (w *partWriter) Close() error {
	if w.f == nil && len(w.refs) == 0 {
		if err := w.next(); err != nil {
			return err
		}
	}
	return w.finish()
}

// writeSums writes SHA256SUMS in the format of sha256sum(1), so that anyone
// can check the files' integrity with standard tools (not their origin).
func writeSums(dir string, envelope []byte, manifest FileRef, parts []FileRef) error {
	var b strings.Builder
	line := func(sum, name string) { fmt.Fprintf(&b, "%s  %s\n", sum, name) }
	es := sha256.Sum256(envelope)
	line(hex.EncodeToString(es[:]), StatementFile)
	line(manifest.SHA256, ManifestFile)
	for _, p := range parts {
		line(p.SHA256, p.Name)
	}
	return os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644)
}

// bundleOrder lists a bundle's files in their canonical order.
func bundleOrder(parts []FileRef) []string {
	names := []string{StatementFile, ManifestFile}
	for _, p := range parts {
		names = append(names, p.Name)
	}
	return append(names, SumsFile)
}

// commitOutput moves the finished work directory to out: as a folder by
// renaming it, or as one tar file written atomically.
func commitOutput(work, out string, parts []FileRef, force bool) error {
	for _, name := range bundleOrder(parts) {
		if err := syncFile(filepath.Join(work, name)); err != nil {
			return err
		}
	}
	if IsSingleFile(out) {
		return writeSingleFile(work, out, bundleOrder(parts))
	}
	if err := atomicfile.SyncDir(work); err != nil {
		return err
	}
	if force {
		if err := replaceDir(work, out); err != nil {
			return err
		}
	} else if err := os.Rename(work, out); err != nil {
		return fmt.Errorf("move bundle into place: %w", err)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(filepath.Clean(out)))
}

func replaceDir(work, out string) error {
	old := work + ".old"
	if _, err := os.Lstat(out); err == nil {
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("move old %s aside: %w", out, err)
		}
	}
	if err := os.Rename(work, out); err != nil {
		os.Rename(old, out)
		return fmt.Errorf("move bundle into place: %w", err)
	}
	return os.RemoveAll(old)
}

func syncFile(p string) error { return atomicfile.SyncFile(p) }

// writeSingleFile writes the files of work, in order, as one plain tar.
func writeSingleFile(work, out string, names []string) error {
	af, err := atomicfile.Create(out, 0o644)
	if err != nil {
		return err
	}
	defer af.Abort()
	tw := tar.NewWriter(af)
	for _, name := range names {
		if err := appendFile(tw, filepath.Join(work, name), name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return af.Commit()
}

func appendFile(tw *tar.Writer, src, name string) error {
	f, _, err := capped.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime().UTC().Truncate(1e9)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// sortedParts returns part refs sorted by name.
func sortedParts(parts []FileRef) []FileRef {
	out := append([]FileRef(nil), parts...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
