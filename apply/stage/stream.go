package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"

	"github.com/klauspost/compress/zstd"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/progress"
)

// maxWindow caps the zstd window, and so the decoder's memory. The builder
// writes 8 MiB windows; the cap leaves room for bundles made with other
// zstd tools at their default levels.
const maxWindow = 32 << 20

// decoderOptions configures the zstd decoder for hostile input.
func decoderOptions() []zstd.DOption {
	return []zstd.DOption{
		// Decode on the calling goroutine: no background goroutines that
		// could outlive an early return, no read-ahead of blocks, and
		// errors surface in stream order.
		zstd.WithDecoderConcurrency(1),
		// Refuse frames that ask for a window above the cap (the default
		// is 512 MiB), so a frame header cannot make us allocate gigabytes.
		zstd.WithDecoderMaxWindow(maxWindow),
		// The default is 64 GiB. When streaming this bounds the window too,
		// including a single-segment frame's, which is its whole content.
		zstd.WithDecoderMaxMemory(maxWindow),
	}
}

// Names used as Error.Entry for failures of the payload streams themselves.
const (
	entryCiphertext = "ciphertext"
	entryCompressed = "compressed stream"
	entryPlaintext  = "plaintext"
)

// partReader reads the payload parts in predicate order as one stream. Each
// part is read up to its signed size and hashed; when a part ends its size
// and digest are compared with the predicate. Errors are sticky.
type partReader struct {
	ctx   context.Context
	b     *bundle.Bundle
	parts []bundle.FileRef
	i     int           // current part
	rc    io.ReadCloser // open current part, or nil
	h     hash.Hash
	n     int64 // bytes read of the current part
	err   error
	rep   progress.Reporter // may be nil
}

func newPartReader(ctx context.Context, b *bundle.Bundle, parts []bundle.FileRef, rep progress.Reporter) *partReader {
	return &partReader{ctx: ctx, b: b, parts: parts, h: sha256.New(), rep: rep}
}

func (p *partReader) Read(buf []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	for p.i < len(p.parts) {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			return 0, err
		}
		n, err := p.readPart(buf)
		if n > 0 || len(buf) == 0 {
			return n, nil
		}
		if err != nil {
			p.err = err
			return 0, err
		}
	}
	return 0, io.EOF
}

// readPart reads from the current part, opening it first if need be. At the
// part's signed size, or at an early EOF, it checks the part and moves on,
// returning (0, nil).
func (p *partReader) readPart(buf []byte) (int, error) {
	part := p.parts[p.i]
	if p.rc == nil {
		rc, err := p.b.OpenFile(part.Name)
		if errors.Is(err, bundle.ErrMissing) || errors.Is(err, fs.ErrNotExist) {
			return 0, &Error{Entry: part.Name, Msg: "missing (removed since verification?)"}
		}
		if err != nil {
			return 0, fmt.Errorf("open payload part %s: %w", part.Name, err)
		}
		p.rc, p.n = rc, 0
		p.h.Reset()
	}
	if rem := part.Size - p.n; rem > 0 {
		if int64(len(buf)) > rem {
			buf = buf[:rem]
		}
		n, err := p.rc.Read(buf)
		p.h.Write(buf[:n])
		p.n += int64(n)
		if p.rep != nil && n > 0 {
			p.rep.Add(int64(n))
		}
		if n > 0 || err == nil {
			return n, nil
		}
		if err != io.EOF {
			return 0, fmt.Errorf("read payload part %s: %w", part.Name, err)
		}
	}
	return 0, p.endPart()
}

// endPart closes the current part and checks it against the predicate.
func (p *partReader) endPart() error {
	part := p.parts[p.i]
	p.rc.Close()
	p.rc = nil
	p.i++
	if p.n != part.Size {
		return &Error{Entry: part.Name, Msg: fmt.Sprintf("%d bytes, signed size %d (changed since verification)", p.n, part.Size)}
	}
	if got := hex.EncodeToString(p.h.Sum(nil)); got != part.SHA256 {
		return &Error{Entry: part.Name, Msg: fmt.Sprintf("sha256 %s, signed %s (changed since verification)", got, part.SHA256)}
	}
	return nil
}

// drain reads on to the end of the current part, or of all parts, checking
// each part it finishes, and returns the reader's error, if any.
func (p *partReader) drain(all bool) error {
	buf := make([]byte, 32<<10)
	for start := p.i; p.err == nil && p.i < len(p.parts) && (all || p.i == start); {
		p.Read(buf)
	}
	return p.err
}

// finish checks that the stream was read to its end: every part read and
// matched, and nothing after the age stream.
func (p *partReader) finish() error {
	n, err := io.Copy(io.Discard, p)
	if err != nil {
		return err
	}
	if n > 0 {
		return &Error{Entry: p.parts[len(p.parts)-1].Name, Msg: fmt.Sprintf("%d bytes after the end of the age stream", n)}
	}
	return nil
}

func (p *partReader) close() {
	if p.rc != nil {
		p.rc.Close()
		p.rc = nil
	}
}

// tap passes reads through and keeps the first error other than io.EOF, so
// that a failure can be blamed on the innermost stream where it began.
type tap struct {
	r   io.Reader
	err error
}

func (t *tap) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// plainReader counts the plaintext, and refuses to produce more than max
// bytes: it reads at most max+1 and fails on the extra byte.
type plainReader struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (c *plainReader) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if rem := c.max - c.n; rem < int64(len(b)) {
		b = b[:rem+1]
	}
	n, err := c.r.Read(b)
	if c.n+int64(n) > c.max {
		n = int(c.max - c.n)
		c.err = &Error{Entry: entryPlaintext, Msg: fmt.Sprintf("larger than the signed plaintext size of %d bytes (a decompression bomb?)", c.max)}
		err = c.err
	}
	c.n += int64(n)
	return n, err
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// readahead reads its source in a goroutine, up to n buffers ahead of the
// consumer, so that producing the stream (decryption, decompression) and
// consuming it (hashing, writing files) run on different cores. If it has a
// hash, the buffers the consumer has finished with are hashed, in order, in
// a third goroutine: the stream's digest costs neither side any time. Read
// is for one consumer; stop ends the goroutines and waits for them, after
// which anything the source's readers recorded, and the hash, may be read
// safely.
type readahead struct {
	full     chan chunk
	free     chan []byte
	used     chan []byte // consumed buffers, to the hasher
	quit     chan struct{}
	done     chan struct{}
	hashed   chan struct{}
	h        hash.Hash
	stopped  bool
	cur, buf []byte
	err      error
}

type chunk struct {
	b   []byte
	err error
}

func newReadahead(r io.Reader, n, size int, h hash.Hash) *readahead {
	ra := &readahead{full: make(chan chunk, n), free: make(chan []byte, n+1), quit: make(chan struct{}), done: make(chan struct{}), h: h}
	for i := 0; i <= n; i++ {
		ra.free <- make([]byte, size)
	}
	go ra.fill(r)
	if h != nil {
		ra.used = make(chan []byte, n+1)
		ra.hashed = make(chan struct{})
		go ra.hash()
	}
	return ra
}

func (ra *readahead) fill(r io.Reader) {
	defer close(ra.done)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.quit:
			return
		}
		n, err := readFull(r, buf)
		select {
		case ra.full <- chunk{buf[:n], err}:
		case <-ra.quit:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readahead) hash() {
	defer close(ra.hashed)
	for b := range ra.used {
		ra.h.Write(b)
		ra.free <- b[:cap(b)]
	}
}

// readFull reads until buf is full or r fails, returning r's own error
// (io.EOF at the end) rather than io.ErrUnexpectedEOF.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		ra.release()
		if ra.err != nil || ra.stopped {
			if ra.err == nil {
				ra.err = errors.New("read after stop")
			}
			return 0, ra.err
		}
		c := <-ra.full
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// release hands the buffer the consumer has read on: to the hasher, or
// back to the reading goroutine.
func (ra *readahead) release() {
	if ra.buf == nil {
		return
	}
	if ra.used != nil {
		ra.used <- ra.buf[:len(ra.buf)-len(ra.cur)]
	} else {
		ra.free <- ra.buf[:cap(ra.buf)]
	}
	ra.buf, ra.cur = nil, nil
}

// stop ends the goroutines and waits for them; what the consumer has read
// is hashed by then. It may be called more than once.
func (ra *readahead) stop() {
	if ra.stopped {
		return
	}
	ra.stopped = true
	close(ra.quit)
	<-ra.done
	if ra.used != nil {
		ra.release()
		close(ra.used)
		<-ra.hashed
	}
}
