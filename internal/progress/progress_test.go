package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type tally struct {
	stages []string
	n      int64
}

func (t *tally) Stage(name string, total int64) { t.stages = append(t.stages, name) }
func (t *tally) Add(n int64)                    { t.n += n }

// TestReader: every byte read through the reader is reported once, also
// in short reads, and nothing more; a nil reporter changes nothing.
func TestReader(t *testing.T) {
	data := strings.Repeat("airlock", 1000)
	var tl tally
	Stage(&tl, "verify", int64(len(data)))
	var out bytes.Buffer
	if _, err := io.Copy(&out, Reader(iotest.OneByteReader(strings.NewReader(data)), &tl)); err != nil {
		t.Fatal(err)
	}
	if out.String() != data || tl.n != int64(len(data)) || len(tl.stages) != 1 || tl.stages[0] != "verify" {
		t.Fatalf("read %d bytes, reported %d, stages %v", out.Len(), tl.n, tl.stages)
	}
	src := strings.NewReader(data)
	if Reader(src, nil) != io.Reader(src) {
		t.Error("a nil reporter wrapped the reader")
	}
	Stage(nil, "nothing", 1) // no panic
}
