// Package chunks cuts large files into content-defined chunks, the unit a
// delta bundle leaves out when the zone already holds it. The builder and
// the zone must cut the same file at the same places, so everything that
// decides a cut is fixed here: restic's Rabin chunker
// (github.com/restic/chunker) with a fixed polynomial, chunks of 16 KiB to
// 256 KiB, about 64 KiB on average (the size casync and desync use: a
// rebuilt archive that changed in part then differs in few chunks), for
// files of more than Threshold bytes. Changing any of these makes every
// chunk the zone holds useless to the builder, which is safe (the content
// is then shipped) but costly: they are part of the format.
package chunks

import (
	"crypto/sha256"
	"errors"
	"io"

	"github.com/restic/chunker"
)

const (
	// Threshold is the size above which a file is chunked.
	Threshold = 256 << 10
	// MinSize and MaxSize bound a chunk (the last one of a file may be
	// shorter than MinSize).
	MinSize = 16 << 10
	MaxSize = 256 << 10
	// averageBits sets the average chunk size, 2^16 = 64 KiB.
	averageBits = 16
	// pol is the chunker's irreducible polynomial (the one restic's own
	// tests use): fixed, so that builder and zone cut alike.
	pol = chunker.Pol(0x3DA3358B4DC173)
)

// Chunk is one chunk of a file: where it is and its SHA-256.
type Chunk struct {
	Offset int64
	Size   int64
	SHA256 [sha256.Size]byte
}

// Large reports whether a file of size bytes is cut into chunks.
func Large(size int64) bool { return size > Threshold }

// Splitter cuts streams into chunks; it holds the chunker's buffers, so
// one Splitter reused for many files allocates once. It is not safe for
// concurrent use.
type Splitter struct {
	c   *chunker.Chunker
	buf []byte
}

// NewSplitter returns a Splitter.
func NewSplitter() *Splitter {
	return &Splitter{c: chunker.NewWithBoundaries(eofReader{}, pol, MinSize, MaxSize), buf: make([]byte, MaxSize)}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Split reads r to its end and calls fn with each chunk in order, with
// the chunk's bytes (valid until fn returns). An empty stream has no chunk.
func (s *Splitter) Split(r io.Reader, fn func(c Chunk, data []byte) error) error {
	s.c.ResetWithBoundaries(r, pol, MinSize, MaxSize)
	s.c.SetAverageBits(averageBits)
	for {
		c, err := s.c.Next(s.buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(Chunk{Offset: int64(c.Start), Size: int64(c.Length), SHA256: sha256.Sum256(c.Data)}, c.Data); err != nil {
			return err
		}
	}
}
