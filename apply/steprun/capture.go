package steprun

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"
	"unicode/utf8"

	"airlock.dev/airlock/internal/mask"
)

// capture receives a step's output: each stream is masked, then written to
// the operator's writer, hashed and appended to a bounded tail.
type capture struct {
	mask           *mask.Masker
	stdout, stderr io.WriteCloser // masking writers, one per stream

	mu      sync.Mutex // the two streams are copied by different goroutines
	outHash hash.Hash
	errHash hash.Hash
	tail    tail
}

func newCapture(m *mask.Masker, stdout, stderr io.Writer) *capture {
	c := &capture{mask: m, outHash: sha256.New(), errHash: sha256.New()}
	c.stdout = m.Writer(&sink{c: c, h: c.outHash, w: stdout})
	c.stderr = m.Writer(&sink{c: c, h: c.errHash, w: stderr})
	return c
}

// close flushes what the maskers hold back. Call it after the process's
// output is complete (exec.Cmd.Wait has returned).
func (c *capture) close() {
	c.stdout.Close() // sinks never fail
	c.stderr.Close()
}

func (c *capture) stdoutSHA256() string { return hex.EncodeToString(c.outHash.Sum(nil)) }
func (c *capture) stderrSHA256() string { return hex.EncodeToString(c.errHash.Sum(nil)) }

// tailString returns the combined tail, masked once more (a secret might be
// split between the two streams) and, if cut, starting at a rune boundary.
func (c *capture) tailString() string {
	s := c.mask.String(string(c.tail.bytes()))
	cut := c.tail.total > TailSize
	if len(s) > TailSize {
		s, cut = s[len(s)-TailSize:], true
	}
	for i := 0; cut && i < utf8.UTFMax-1 && s != "" && !utf8.RuneStart(s[0]); i++ {
		s = s[1:]
	}
	return s
}

// sink is where one masked stream goes.
type sink struct {
	c      *capture
	h      hash.Hash
	w      io.Writer // operator's writer, may be nil
	failed bool      // w returned an error; stop writing to it
}

// Write never fails: an operator's writer that fails stops receiving output
// but must not stop the step, its hash or its tail.
func (s *sink) Write(p []byte) (int, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.h.Write(p)
	s.c.tail.write(p)
	if s.w != nil && !s.failed {
		if _, err := s.w.Write(p); err != nil {
			s.failed = true
		}
	}
	return len(p), nil
}

// tail keeps the last TailSize bytes written, in at most 2*TailSize bytes.
type tail struct {
	b     []byte
	total int64 // bytes written
}

func (t *tail) write(p []byte) {
	t.total += int64(len(p))
	if len(p) >= TailSize {
		t.b = append(t.b[:0], p[len(p)-TailSize:]...)
		return
	}
	if len(t.b)+len(p) > 2*TailSize {
		keep := TailSize - len(p)
		t.b = t.b[:copy(t.b, t.b[len(t.b)-keep:])]
	}
	t.b = append(t.b, p...)
}

func (t *tail) bytes() []byte {
	if len(t.b) > TailSize {
		return t.b[len(t.b)-TailSize:]
	}
	return t.b
}
