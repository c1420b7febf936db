package chunks

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func split(t *testing.T, data []byte) []Chunk {
	t.Helper()
	var out []Chunk
	s := NewSplitter()
	var joined []byte
	if err := s.Split(bytes.NewReader(data), func(c Chunk, b []byte) error {
		out = append(out, c)
		joined = append(joined, b...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("the chunks do not make up the stream")
	}
	return out
}

func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestSizes checks the bounds and that the average is near 64 KiB.
func TestSizes(t *testing.T) {
	data := random(16<<20, 1)
	cs := split(t, data)
	var off int64
	for i, c := range cs {
		if c.Offset != off {
			t.Fatalf("chunk %d at %d, want %d", i, c.Offset, off)
		}
		off += c.Size
		if c.Size > MaxSize || (c.Size < MinSize && i != len(cs)-1) {
			t.Errorf("chunk %d has %d bytes, outside [%d, %d]", i, c.Size, MinSize, MaxSize)
		}
	}
	avg := len(data) / len(cs)
	if avg < 40<<10 || avg > 100<<10 {
		t.Errorf("average chunk %d bytes over %d chunks, want about 64 KiB", avg, len(cs))
	}
}

// TestLocalChange checks what chunking is for: a change in the middle of
// a large file changes few chunks.
func TestLocalChange(t *testing.T) {
	a := random(8<<20, 2)
	b := bytes.Clone(a)
	copy(b[4<<20:], random(1000, 3))                               // overwrite in place
	b = append(b[:6<<20], append(random(500, 4), b[6<<20:]...)...) // and insert
	have := map[[32]byte]bool{}
	for _, c := range split(t, a) {
		have[c.SHA256] = true
	}
	var changed int64
	for _, c := range split(t, b) {
		if !have[c.SHA256] {
			changed += c.Size
		}
	}
	if changed == 0 || changed > 1<<20 {
		t.Errorf("%d bytes in new chunks after two small changes, want some and at most 1 MiB", changed)
	}
}

func TestDeterministic(t *testing.T) {
	data := random(2<<20, 5)
	a, b := split(t, data), split(t, data)
	if len(a) != len(b) {
		t.Fatal("two splits of the same data differ")
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("chunk %d differs", i)
		}
	}
}

func TestLarge(t *testing.T) {
	if Large(Threshold) || !Large(Threshold+1) {
		t.Error("Large: the threshold is wrong")
	}
}
