// Package progress is how a long operation — a build, a verification, an
// apply — says how far it has come, without knowing who listens: it tells
// a Reporter when each stage starts and as bytes of it pass. The CLI draws
// a bar from it on a terminal; nothing below cmd/ writes to one.
package progress

import "io"

// Reporter follows an operation. Stage starts a stage: its name and its
// total bytes (0 when not known); Add says n more bytes of it are done.
// Add may be called from several goroutines; both must return quickly.
type Reporter interface {
	Stage(name string, total int64)
	Add(n int64)
}

// Stage starts a stage of r; a nil r reports nothing.
func Stage(r Reporter, name string, total int64) {
	if r != nil {
		r.Stage(name, total)
	}
}

// Reader returns src, counting what is read from it as progress of r (src
// itself when r is nil).
func Reader(src io.Reader, r Reporter) io.Reader {
	if r == nil {
		return src
	}
	return &reader{src, r}
}

type reader struct {
	src io.Reader
	r   Reporter
}

func (c *reader) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	if n > 0 {
		c.r.Add(int64(n))
	}
	return n, err
}
