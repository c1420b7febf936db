package bundle

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"

	"airlock.dev/airlock/internal/progress"
	"airlock.dev/airlock/internal/rootdir"
)

// sourceReader reads release files into the payload. The files of one
// directory are opened in it by name, one system call each, through a
// directory kept open (internal/rootdir); a file rootdir does not open (a
// path named in airlock.yaml that passes through a link inside the
// release) is opened through the os.Root, as os.Root resolves it. A file
// of an archive package is read from the archive (see releaseFS).
type sourceReader struct {
	root     *os.Root
	archives *releaseFS
	dir      *rootdir.Dir
	progress progress.Reporter // may be nil
	buf      []byte
	h        hash.Hash
}

func (s *sourceReader) close() {
	if s.dir != nil {
		s.dir.Close()
		s.dir = nil
	}
}

// open opens name (a slash path in the release directory) for reading and
// returns its type and size. archived says name is in an archive package.
func (s *sourceReader) open(name string, archived bool) (io.ReadCloser, fs.FileMode, int64, error) {
	if archived {
		return withStat(s.archives.Open(name))
	}
	dir, base := path.Split(name)
	dir = path.Clean("./" + dir)
	if s.dir == nil || s.dir.Name() != dir {
		s.close()
		if d, err := rootdir.OpenIn(s.root, dir); err == nil {
			s.dir = d
		}
	}
	if s.dir != nil {
		if f, err := s.dir.Open(base); err == nil {
			mode, size, err := f.Stat()
			if err != nil {
				f.Close()
				return nil, 0, 0, err
			}
			return f, mode, size, nil
		}
	}
	return withStat(s.root.Open(name))
}

// withStat returns an opened file with its type and size.
func withStat(f fs.File, err error) (io.ReadCloser, fs.FileMode, int64, error) {
	if err != nil {
		return nil, 0, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return f, st.Mode(), st.Size(), nil
}

// copy writes exactly size bytes of e's file to w, after calling header,
// and returns their SHA-256. It fails if the file is not regular or
// changed size since it was listed.
func (s *sourceReader) copy(ctx context.Context, e *source, header func() error, w io.Writer) (string, error) {
	name, size := e.src, e.Size
	var f io.ReadCloser
	var mode fs.FileMode
	var got int64
	var err error
	if e.staged != nil {
		f, mode, got, err = withStat(e.staged.Open(name))
	} else {
		f, mode, got, err = s.open(name, e.archive != nil)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if !mode.IsRegular() || got != size {
		return "", fmt.Errorf("%s: changed while building (was a regular file of %d bytes)", name, size)
	}
	if err := header(); err != nil {
		return "", err
	}
	s.h.Reset()
	for n := int64(0); n < size; {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		k, err := f.Read(s.buf[:min(int64(len(s.buf)), size-n)])
		if k > 0 {
			s.h.Write(s.buf[:k])
			if s.progress != nil {
				s.progress.Add(int64(k))
			}
			if _, err := w.Write(s.buf[:k]); err != nil {
				return "", err
			}
			n += int64(k)
		}
		if err == io.EOF {
			return "", fmt.Errorf("%s: changed while building (read %d of %d bytes)", name, n, size)
		}
		if err != nil {
			return "", err
		}
	}
	sum := hex.EncodeToString(s.h.Sum(nil))
	if e.digest != "" && sum != e.digest {
		return "", fmt.Errorf("%s: content has sha256 %s, want %s", e.Path, sum, e.digest)
	}
	return sum, nil
}
