package bundle

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The payload is written by a pipeline of goroutines with bounded queues,
// so that every core works on it and memory does not grow with its size:
//
//	caller      tar stream (file reads, per-file SHA-256) into frame buffers
//	hasher      in order: SHA-256 of the plaintext
//	workers     one zstd frame per buffer, in parallel (EncodeAll)
//	sink        in order: age, then the parts (written and hashed)
//
// The plaintext is cut into frames of frameSize bytes, each compressed on
// its own: frames do not depend on each other, so they compress on any
// core without the re-indexing of an overlap that a single frame's
// parallel blocks need, and the output does not depend on how many cores
// did the work. A sequence of frames is what zstd -d and every zstd reader
// read as one stream. Memory is the frame buffers in flight (a few per
// worker) and one encoder per worker, whatever the payload's size.

// frameSize is the plaintext in one zstd frame. At 1 MiB the frames of
// the benchmark's mixed release compress to within 0.2% of one long frame
// (and of zstd -3's output), and a handful of them in flight is all the
// memory the pipeline needs.
const frameSize = 1 << 20

// frame is one frame buffer on its way through the pipeline.
type frame struct {
	in    []byte        // plaintext, len ≤ frameSize
	out   []byte        // the compressed frame
	ready chan struct{} // a worker has filled out
}

// payloadWriter compresses what is written to it into zstd frames on
// several goroutines and writes them, in order, to dst; Close waits for the
// last one. It counts and hashes the plaintext.
type payloadWriter struct {
	dst     io.Writer
	enc     *zstd.Encoder
	cur     *frame
	free    chan *frame // empty buffers
	work    chan *frame // to the workers
	order   chan *frame // to the hasher, in stream order
	hashed  chan *frame // from the hasher to the sink, in stream order
	failed  chan struct{}
	once    sync.Once
	err     error // the sink's first error, set before failed is closed
	wg      sync.WaitGroup
	sinkEnd chan struct{}
	closed  bool

	plain hash.Hash
	n     int64
}

// newPayloadWriter starts the workers and the sink. workers ≤ 0 means one
// per core (at most GOMAXPROCS): more would only add encoders and buffers.
func newPayloadWriter(dst io.Writer, level string, workers int) (*payloadWriter, error) {
	if workers <= 0 {
		workers = min(runtime.NumCPU(), runtime.GOMAXPROCS(0))
	}
	enc, err := zstd.NewWriter(nil, zstdOptions(level, workers)...)
	if err != nil {
		return nil, err
	}
	// Each worker has a frame to compress; one more is being filled, one
	// written by the sink and one waiting, to absorb uneven frames.
	buffers := workers + 3
	p := &payloadWriter{
		dst:     dst,
		enc:     enc,
		free:    make(chan *frame, buffers),
		work:    make(chan *frame, buffers),
		order:   make(chan *frame, buffers),
		hashed:  make(chan *frame, buffers),
		failed:  make(chan struct{}),
		sinkEnd: make(chan struct{}),
		plain:   sha256.New(),
	}
	for range buffers {
		p.free <- &frame{in: make([]byte, 0, frameSize), ready: make(chan struct{}, 1)}
	}
	for range workers {
		p.wg.Add(1)
		go p.compress()
	}
	go p.hash()
	go p.sink()
	return p, nil
}

// hash hashes the plaintext, in order, while the workers compress it.
func (p *payloadWriter) hash() {
	for f := range p.order {
		p.plain.Write(f.in)
		p.hashed <- f
	}
	close(p.hashed)
}

func (p *payloadWriter) compress() {
	defer p.wg.Done()
	for f := range p.work {
		f.out = p.enc.EncodeAll(f.in, f.out[:0])
		f.ready <- struct{}{}
	}
}

// sink writes the frames in order; after a failure it only recycles them.
func (p *payloadWriter) sink() {
	defer close(p.sinkEnd)
	for f := range p.hashed {
		<-f.ready
		select {
		case <-p.failed:
		default:
			if _, err := p.dst.Write(f.out); err != nil {
				p.fail(err)
			}
		}
		f.in = f.in[:0]
		p.free <- f
	}
}

func (p *payloadWriter) fail(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.failed)
	})
}

// Write copies b into frame buffers, handing each full one on.
func (p *payloadWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case p.cur = <-p.free:
			case <-p.failed:
				return n, p.err
			}
		}
		k := copy(p.cur.in[len(p.cur.in):frameSize], b)
		p.cur.in = p.cur.in[:len(p.cur.in)+k]
		b = b[k:]
		n += k
		p.n += int64(k)
		if len(p.cur.in) == frameSize {
			p.submit()
		}
	}
	return n, nil
}

func (p *payloadWriter) submit() {
	p.order <- p.cur
	p.work <- p.cur
	p.cur = nil
}

// Close compresses and writes what is left, stops the goroutines and
// returns the first error. It may be called more than once (after the
// first call it only returns that error); call it on failure too, to stop
// the goroutines.
func (p *payloadWriter) Close() error {
	if p.closed {
		return p.err
	}
	p.closed = true
	if p.cur != nil && len(p.cur.in) > 0 {
		p.submit()
	}
	close(p.work)
	close(p.order)
	<-p.sinkEnd
	p.wg.Wait()
	p.enc.Close()
	return p.err
}

// Abort stops the goroutines without writing what is buffered.
func (p *payloadWriter) Abort() {
	if !p.closed {
		p.fail(errAborted)
		p.Close()
	}
}

var errAborted = errors.New("payload writer aborted")

// Sum returns the plaintext's size and SHA-256, once Close has returned.
func (p *payloadWriter) Sum() (int64, []byte) { return p.n, p.plain.Sum(nil) }
