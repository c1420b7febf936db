// Package store is a host's content store (state/store/): the pristine
// content — as shipped, before any substitution — of the releases the host
// keeps, stored once by SHA-256, with the chunks of its large files. Its
// records say which objects each applied release holds; pruned with the
// releases, they are what the host's inventory lists and what a delta
// bundle may take from the zone instead of the payload (see doc/design.md,
// "Delta bundles").
//
// Everything is read and written through an os.Root of the state
// directory, in folders checked to be real directories (never a planted
// link), into tmp/ first and renamed into place: a kill leaves a file in
// tmp/ or an object no record names, which Sweep and Prune remove.
package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"airlock.dev/airlock/internal/chunks"
	"airlock.dev/airlock/internal/names"
	"airlock.dev/airlock/receipt"
)

// Dir is the store's folder in the state directory.
const Dir = "store"

const (
	objectsDir  = Dir + "/objects"
	chunksDir   = Dir + "/chunks"
	releasesDir = Dir + "/releases"
	tmpDir      = Dir + "/tmp"
	objectMode  = 0o444
)

// Store is a host's content store. It is not safe for concurrent use (but
// for Index's own workers): the applier, which holds the state
// directory's lock, is its one user.
type Store struct {
	root *os.Root // the state directory
}

// Open opens the content store of the state directory stateDir, making
// its folders if need be. Each must be a real directory: a link planted
// in their place is refused, never followed.
func Open(stateDir string) (*Store, error) {
	root, err := os.OpenRoot(stateDir)
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	for _, d := range []string{Dir, objectsDir, chunksDir, releasesDir, tmpDir} {
		if err := realDir(root, d); err != nil {
			root.Close()
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	return &Store{root: root}, nil
}

// realDir makes the directory name in root unless it exists, and checks
// that it is a directory, not a link to one.
func realDir(root *os.Root, name string) error {
	if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	st, err := root.Lstat(name)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory (%s): refusing to write through it", name, st.Mode().Type())
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error { return s.root.Close() }

// Sweep removes what an interrupted apply left in tmp/ (see also Collect).
func (s *Store) Sweep() error {
	ents, err := fs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, s.root.RemoveAll(tmpDir+"/"+e.Name()))
	}
	return errors.Join(errs...)
}

// ObjectPath is the path of the object of digest sum in the state directory.
func ObjectPath(sum [sha256.Size]byte) string { return objectsDir + "/" + hex.EncodeToString(sum[:]) }

func chunkIndexPath(sum [sha256.Size]byte) string {
	return chunksDir + "/" + hex.EncodeToString(sum[:])
}

// tmpName is a fresh name in tmp/.
func tmpName() string {
	var b [8]byte
	rand.Read(b[:])
	return tmpDir + "/" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

// Has reports whether the store holds an object of digest sum (without
// checking its content: see Check).
func (s *Store) Has(sum [sha256.Size]byte) bool {
	st, err := s.root.Lstat(ObjectPath(sum))
	return err == nil && st.Mode().IsRegular()
}

// Add stores the file at src (a path relative to the state directory, in
// the staging directory: content already checked against the signed
// manifest) as the object of digest sum: a hard link where the file
// system allows, else a copy. An object already held is kept as it is.
// A large object needs its chunk index too (Index).
func (s *Store) Add(src string, sum [sha256.Size]byte) error {
	dst := ObjectPath(sum)
	if !s.Has(sum) {
		tmp := tmpName()
		if err := s.root.Link(src, tmp); err != nil {
			if err := s.copy(src, tmp); err != nil {
				s.root.Remove(tmp)
				return fmt.Errorf("content store: add %s: %w", src, err)
			}
		}
		if err := s.root.Rename(tmp, dst); err != nil {
			s.root.Remove(tmp)
			return fmt.Errorf("content store: add %s: %w", src, err)
		}
	}
	return nil
}

// Index writes the chunk index of each object of sums that lacks one,
// on every core (objects are cut by content: see internal/chunks).
func (s *Store) Index(sums [][sha256.Size]byte) error {
	var todo [][sha256.Size]byte
	for _, sum := range sums {
		if _, err := s.root.Lstat(chunkIndexPath(sum)); err != nil {
			todo = append(todo, sum)
		}
	}
	var mu sync.Mutex
	next := func() ([sha256.Size]byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(todo) == 0 {
			return [sha256.Size]byte{}, false
		}
		sum := todo[0]
		todo = todo[1:]
		return sum, true
	}
	workers := max(1, min(len(todo), runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			split := chunks.NewSplitter()
			for sum, ok := next(); ok && errs[w] == nil; sum, ok = next() {
				errs[w] = s.index(split, sum)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copy copies src to the new file dst, mode 0444, synced.
func (s *Store) copy(src, dst string) error {
	in, err := s.root.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := s.root.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, objectMode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// index writes the chunk index of the object sum.
func (s *Store) index(split *chunks.Splitter, sum [sha256.Size]byte) error {
	f, err := s.root.Open(ObjectPath(sum))
	if err != nil {
		return err
	}
	defer f.Close()
	var b bytes.Buffer
	err = split.Split(bufio.NewReaderSize(f, 1<<20), func(c chunks.Chunk, _ []byte) error {
		fmt.Fprintf(&b, "%s %d %d\n", hex.EncodeToString(c.SHA256[:]), c.Offset, c.Size)
		return nil
	})
	if err != nil {
		return fmt.Errorf("content store: chunk %s: %w", hex.EncodeToString(sum[:]), err)
	}
	return s.writeFile(chunkIndexPath(sum), b.Bytes())
}

// writeFile writes data whole to name: into tmp/, synced, then renamed.
func (s *Store) writeFile(name string, data []byte) error {
	tmp := tmpName()
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.root.Rename(tmp, name)
	}
	if err != nil {
		s.root.Remove(tmp)
	}
	return err
}

// LinkObject makes dst (a path relative to the state directory, which
// must not exist) a hard link to the object sum; it fails where the file
// system cannot link, and the caller copies instead.
func (s *Store) LinkObject(sum [sha256.Size]byte, dst string) error {
	return s.root.Link(ObjectPath(sum), dst)
}

// SetChunks records the chunk index of the object sum, as an apply that
// put it together from checked chunks knows it (so it is not cut again).
func (s *Store) SetChunks(sum [sha256.Size]byte, cs []chunks.Chunk) error {
	var b bytes.Buffer
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %d %d\n", hex.EncodeToString(c.SHA256[:]), c.Offset, c.Size)
	}
	return s.writeFile(chunkIndexPath(sum), b.Bytes())
}

// Chunks reads the chunk index of the object sum: nil for an object that
// has none (a small one).
func (s *Store) Chunks(sum [sha256.Size]byte) ([]chunks.Chunk, error) {
	data, err := fs.ReadFile(s.root.FS(), chunkIndexPath(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseIndex(data)
}

func parseIndex(data []byte) ([]chunks.Chunk, error) {
	var out []chunks.Chunk
	var off int64
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		f := strings.Fields(line)
		var c chunks.Chunk
		ok := len(f) == 3 && len(f[0]) == 64
		if ok {
			_, err := hex.Decode(c.SHA256[:], []byte(f[0]))
			c.Offset, _ = strconv.ParseInt(f[1], 10, 64)
			c.Size, _ = strconv.ParseInt(f[2], 10, 64)
			ok = err == nil && c.Offset == off && c.Size > 0 && c.Size <= chunks.MaxSize
		}
		if !ok {
			return nil, fmt.Errorf("chunk index line %d: malformed", n+1)
		}
		off += c.Size
		out = append(out, c)
	}
	return out, nil
}

// recordName is the file of one applied release in releases/<app>/.
func recordName(seq uint64, bundleID string) string {
	return fmt.Sprintf("%020d-%s", seq, bundleID)
}

// appDir is the folder of an application's records: its name when it is
// a valid name (release names are), else its hex.
func appDir(app string) string {
	if !names.Valid(app) {
		app = "x-" + hex.EncodeToString([]byte(app))
	}
	return releasesDir + "/" + app
}

// Record records that the apply seq of bundleID, a release of app, holds
// the objects sums: they are kept as long as the record is.
func (s *Store) Record(app string, seq uint64, bundleID string, sums [][sha256.Size]byte) error {
	if !names.Valid(bundleID) {
		return fmt.Errorf("content store: bundle id %q is not a name", bundleID)
	}
	dir := appDir(app)
	if err := realDir(s.root, dir); err != nil {
		return fmt.Errorf("content store: %w", err)
	}
	var b bytes.Buffer
	for _, sum := range sums {
		b.WriteString(hex.EncodeToString(sum[:]))
		b.WriteByte('\n')
	}
	return s.writeFile(dir+"/"+recordName(seq, bundleID), b.Bytes())
}

// Prune keeps the newest keep records of app (at least one) and removes
// the older ones, then every object, chunk index and leftover that no
// record names.
func (s *Store) Prune(app string, keep int) error {
	keep = max(keep, 1)
	dir := appDir(app)
	recs, err := fs.ReadDir(s.root.FS(), dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var errs []error
	for i := 0; i < len(recs)-keep; i++ { // ReadDir sorts by name: oldest first
		errs = append(errs, s.root.Remove(dir+"/"+recs[i].Name()))
	}
	return errors.Join(append(errs, s.Collect())...)
}

// Collect removes every object and chunk index that no record names:
// what an apply killed or failed after filling the store left.
func (s *Store) Collect() error {
	named, err := s.named()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range []string{objectsDir, chunksDir} {
		ents, err := fs.ReadDir(s.root.FS(), d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range ents {
			if !named[e.Name()] {
				errs = append(errs, s.root.RemoveAll(d+"/"+e.Name()))
			}
		}
	}
	return errors.Join(errs...)
}

// named is the set of object digests (hex) that some record names.
func (s *Store) named() (map[string]bool, error) {
	out := map[string]bool{}
	err := s.records("", func(_ string, sum string) { out[sum] = true })
	return out, err
}

// records calls fn with every digest of every record of app (of every
// application when app is "").
func (s *Store) records(app string, fn func(record, sum string)) error {
	apps, err := fs.ReadDir(s.root.FS(), releasesDir)
	if err != nil {
		return err
	}
	for _, a := range apps {
		if !a.IsDir() || (app != "" && releasesDir+"/"+a.Name() != appDir(app)) {
			continue
		}
		recs, err := fs.ReadDir(s.root.FS(), releasesDir+"/"+a.Name())
		if err != nil {
			return err
		}
		for _, r := range recs {
			name := releasesDir + "/" + a.Name() + "/" + r.Name()
			data, err := fs.ReadFile(s.root.FS(), name)
			if err != nil {
				return err
			}
			for _, line := range strings.Fields(string(data)) {
				if len(line) != 64 {
					return fmt.Errorf("content store: %s: malformed", name)
				}
				fn(name, line)
			}
		}
	}
	return nil
}

// Held is the set of object digests (hex) that the records of app name:
// what a delta bundle of app may take from the store. Content kept for
// another application is not app's to read.
func (s *Store) Held(app string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.records(app, func(_ string, sum string) { out[sum] = true })
	return out, err
}

// Inventory lists what the store holds for the releases of app it
// records: every object they name, and every chunk of those that have a
// chunk index, sorted by digest, each once. An object a record names that
// is missing is left out (the host cannot reuse it).
func (s *Store) Inventory(app string) ([]receipt.Object, error) {
	named, err := s.Held(app)
	if err != nil {
		return nil, err
	}
	seen := map[[sha256.Size]byte]bool{}
	var out []receipt.Object
	add := func(o receipt.Object) {
		if !seen[o.SHA256] {
			seen[o.SHA256] = true
			out = append(out, o)
		}
	}
	for h := range named {
		var sum [sha256.Size]byte
		if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
			continue
		}
		st, err := s.root.Lstat(ObjectPath(sum))
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		add(receipt.Object{SHA256: sum, Size: st.Size()})
		cs, err := s.Chunks(sum)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			add(receipt.Object{SHA256: c.SHA256, Size: c.Size})
		}
	}
	receipt.SortObjects(out)
	return out, nil
}

// OpenObject opens the object sum for reading.
func (s *Store) OpenObject(sum [sha256.Size]byte) (*os.File, error) {
	return s.root.Open(ObjectPath(sum))
}

// Check reads the object sum whole and reports whether it is held and
// hashes to its digest: an object changed in the store (a hard link's
// other name written) is found here.
func (s *Store) Check(sum [sha256.Size]byte) error {
	f, err := s.OpenObject(sum)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum[:]) {
		return fmt.Errorf("object %s hashes to %x: it was changed in the store", hex.EncodeToString(sum[:]), got)
	}
	return nil
}
