package bundle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestPayloadWriter: what goes in comes out of a zstd reader, the same
// bytes whatever the number of workers, with the plaintext's size and
// digest, at sizes around the frame size.
func TestPayloadWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, frameSize - 1, frameSize, frameSize + 1, 5*frameSize + frameSize/2} {
		in := make([]byte, size)
		for i := range in {
			in[i] = "abcdefgh"[rng.IntN(8)] // compressible, not trivially
		}
		var outs [][]byte
		for _, workers := range []int{1, 2, 5} {
			var out bytes.Buffer
			p, err := newPayloadWriter(&out, LevelDefault, workers)
			if err != nil {
				t.Fatal(err)
			}
			// Uneven writes, across frame boundaries.
			for rest := in; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(300_000))
				if _, err := p.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			n, sum := p.Sum()
			if want := sha256.Sum256(in); n != int64(size) || !bytes.Equal(sum, want[:]) {
				t.Errorf("size %d: Sum = %d, %x", size, n, sum)
			}
			zr, err := zstd.NewReader(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			zr.Close()
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("size %d, %d workers: decoded %d bytes (%v), want the %d written", size, workers, len(got), err, size)
			}
			outs = append(outs, out.Bytes())
		}
		for _, o := range outs[1:] {
			if !bytes.Equal(o, outs[0]) {
				t.Errorf("size %d: the output depends on the number of workers", size)
			}
		}
	}
}

type failingWriter struct{ left int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.left -= len(p); w.left < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestPayloadWriterFails: an error writing the output stops the writer,
// reaches the caller, and leaves no goroutine blocked.
func TestPayloadWriterFails(t *testing.T) {
	p, err := newPayloadWriter(&failingWriter{left: 10}, LevelFastest, 2)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ { // 64 MiB at most
		_, werr = p.Write(block)
	}
	cerr := p.Close()
	if werr == nil && cerr == nil {
		t.Fatal("no error from a failing output")
	}
	for _, err := range []error{werr, cerr} {
		if err != nil && err.Error() != "disk full" {
			t.Errorf("error %v, want the output's", err)
		}
	}
	p.Abort() // after Close: nothing to do
}

// TestPayloadWriterAbort: Abort stops the goroutines without writing what
// is buffered.
func TestPayloadWriterAbort(t *testing.T) {
	var out bytes.Buffer
	p, err := newPayloadWriter(&out, LevelDefault, 2)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(make([]byte, frameSize/2))
	p.Abort()
	if out.Len() > 0 {
		t.Errorf("%d bytes written after Abort", out.Len())
	}
}
