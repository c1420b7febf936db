package mask

import (
	"errors"
	"io"
)

// errClosed is returned by Write after Close.
var errClosed = errors.New("mask: write after close")

// Writer returns a WriteCloser that writes masked data to w. It holds back at
// most the longest form of any secret minus one byte, and only while the end
// of the data written so far could be the start of a secret; Close writes what
// is held back. Close does not close w. The returned writer is not safe for
// concurrent use by several goroutines; use one writer per stream.
func (m *Masker) Writer(w io.Writer) io.WriteCloser {
	return &writer{m: m, w: w}
}

type writer struct {
	m       *Masker
	w       io.Writer
	pending []byte // input not yet decided
	out     []byte // reused output buffer
	closed  bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errClosed
	}
	w.pending = append(w.pending, p...)
	if err := w.flush(false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close writes the held-back data. Calling it again does nothing.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(true)
}

func (w *writer) flush(final bool) error {
	var n int
	w.out, n = w.m.load().mask(w.out[:0], w.pending, final)
	w.pending = w.pending[:copy(w.pending, w.pending[n:])]
	if len(w.out) == 0 {
		return nil
	}
	_, err := w.w.Write(w.out)
	return err
}
