package receipt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/internal/atomicfile"
)

// TestChainHead: the head is the highest seq of the zone's files, verified
// with the chain's key; its link is what the next entry names. A head
// signed by another key, one that says another seq than its name, and two
// files claiming the newest seq all stop the chain.
func TestChainHead(t *testing.T) {
	dir := t.TempDir()
	s := bundletest.NewSigner(t)
	c := OpenChain(dir, "z", "h", s.Public())
	if h, err := c.Head(); err != nil || h != nil {
		t.Fatalf("empty folder: %v %v", h, err)
	}
	one := mustSign(t, s, predicate(1, ""))
	r1, _ := Parse(one)
	p2 := predicate(2, r1.SHA256)
	p2.Host.Name = "h"
	two := mustSign(t, s, p2)
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A chain continued under host names from version 1 names.
	write(FileName("z", "", 1), one)
	write(FileName("z", "h", 2), two)
	write(FileName("other", "h", 9), one)
	write("receipt-z-x.dsse.json", one)
	h, err := c.Head()
	if err != nil || h.Seq != 2 || h.Receipt == nil || h.Rotated {
		t.Fatalf("head %+v %v", h, err)
	}
	if r2, _ := Parse(two); h.Link != r2.SHA256 {
		t.Errorf("link %s, want %s", h.Link, r2.SHA256)
	}

	// Signed by a key that is not the chain's: refused.
	other := bundletest.NewSigner(t)
	p3 := predicate(3, h.Link)
	p3.Host.Name = "h"
	write(FileName("z", "h", 3), mustSign(t, other, p3))
	var ve *VerifyError
	if _, err := c.Head(); !errors.As(err, &ve) {
		t.Fatalf("a head signed by another key: %v", err)
	}
	// Unless the policy it records names that other key: it was signed
	// before the receipt key was rotated.
	p3.Policy = &Policy{SHA256: strings.Repeat("a", 64), Zone: "z", Roles: []PolicyRole{}, ReceiptKey: other.Public().ID()}
	os.Remove(filepath.Join(dir, FileName("z", "h", 3)))
	write(FileName("z", "h", 3), mustSign(t, other, p3))
	if h, err := c.Head(); err != nil || !h.Rotated || h.Seq != 3 {
		t.Fatalf("a head from before a rotation: %+v %v", h, err)
	}
	os.Remove(filepath.Join(dir, FileName("z", "h", 3)))

	// Not what its name says.
	write(FileName("z", "h", 3), two)
	if _, err := c.Head(); !errors.As(err, &ve) || !strings.Contains(err.Error(), "not what its name says") {
		t.Fatalf("a head under another seq's name: %v", err)
	}
	os.Remove(filepath.Join(dir, FileName("z", "h", 3)))

	// Not a receipt.
	write(FileName("z", "renamed", 3), []byte("not a receipt"))
	if _, err := c.Head(); err == nil {
		t.Fatal("an undecodable head was continued from")
	}
	// Two files claiming the head's seq: the chain cannot go on from either.
	write(FileName("z", "h", 3), two)
	if h, err := c.Head(); err == nil || !strings.Contains(err.Error(), "two receipts claim seq 3") {
		t.Errorf("two heads: %+v %v", h, err)
	}
}

// TestChainNext: the header of the next entry links to the head; a zone
// clock earlier than the head's finish is refused unless overridden (and
// then recorded); the same instant is not earlier.
func TestChainNext(t *testing.T) {
	dir := t.TempDir()
	s := bundletest.NewSigner(t)
	c := OpenChain(dir, "z", "h", s.Public())
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	first, err := c.Next(nil, Header{Event: EventGenesis, Version: "v", Now: t0})
	if err != nil || first.Seq != 1 || first.PrevSHA256 != "" || first.Zone != "z" || first.Host.Name != "h" || !first.Time.Started.Equal(t0) {
		t.Fatalf("first entry %+v %v", first, err)
	}
	first.Time.Finished = t0
	first.Outcome = Outcome{Result: Applied, Reason: ReasonOK}
	first.Event = ""
	if _, err := c.Append(1, mustSign(t, s, first)); err != nil {
		t.Fatal(err)
	}
	h, err := c.Head()
	if err != nil {
		t.Fatal(err)
	}
	next, err := c.Next(h, Header{Now: t0})
	if err != nil || next.Seq != 2 || next.PrevSHA256 != h.Link || len(next.Override) != 0 {
		t.Fatalf("same instant: %+v %v", next, err)
	}
	var ce *ClockError
	if _, err := c.Next(h, Header{Now: t0.Add(-time.Millisecond)}); !errors.As(err, &ce) || ce.Seq != 1 {
		t.Fatalf("an earlier clock: %v", err)
	}
	over, err := c.Next(h, Header{Now: t0.Add(-time.Hour), ClockOverride: true})
	if err != nil || len(over.Override) != 1 || over.Override[0].Name != "clock-override" {
		t.Fatalf("override: %+v %v", over, err)
	}
}

// TestCommitNeverReplaces: a receipt file already under the name the next
// entry takes is an error, and stays; a staged entry whose bytes are
// already committed (an interrupted commit) completes.
func TestCommitNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	c := OpenChain(dir, "test", "host1", bundletest.NewSigner(t).Public())
	if err := os.WriteFile(c.PendingPath(2), []byte("ours"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.Path(2), []byte("another"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(2); !errors.Is(err, atomicfile.ErrExists) {
		t.Fatalf("commit over another receipt: %v", err)
	}
	if b, _ := os.ReadFile(c.Path(2)); string(b) != "another" {
		t.Fatalf("the receipt there now holds %q", b)
	}
	if err := c.Stage(2, []byte("ours")); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("staging beside an existing receipt: %v", err)
	}
	os.WriteFile(c.Path(2), []byte("ours"), 0o640)
	if err := c.Commit(2); err != nil {
		t.Fatalf("commit of a receipt already committed: %v", err)
	}
	if _, err := os.Stat(c.PendingPath(2)); !os.IsNotExist(err) {
		t.Error("the pending copy stayed")
	}
	// What a killed writer left is swept; the chain is not.
	os.WriteFile(c.PendingPath(3), []byte("half"), 0o640)
	if err := c.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.PendingPath(3)); !os.IsNotExist(err) {
		t.Error("a staged entry survived the sweep")
	}
	if _, err := os.Stat(c.Path(2)); err != nil {
		t.Errorf("the sweep removed an entry: %v", err)
	}
}

// TestCopyOut: the media folder gets every entry with its side files, and
// a file of the same name with other bytes is an error that names it.
func TestCopyOut(t *testing.T) {
	dir, media := t.TempDir(), t.TempDir()
	s := bundletest.NewSigner(t)
	c := OpenChain(dir, "z", "h", s.Public())
	p := predicate(1, "")
	p.Host.Name = "h"
	path, err := c.Append(1, mustSign(t, s, p))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteSide(FilesListName(c.Name(1)), []byte("aa  x\n")); err != nil {
		t.Fatal(err)
	}
	got, err := c.CopyOut(path, media)
	if err != nil || got != filepath.Join(media, c.Name(1)) {
		t.Fatalf("copy: %s %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(media, FilesListName(c.Name(1)))); string(b) != "aa  x\n" {
		t.Errorf("file list copied as %q", b)
	}
	if _, err := c.CopyOut(path, media); err != nil {
		t.Fatalf("copied again: %v", err)
	}
	os.Remove(filepath.Join(media, c.Name(1)))
	os.WriteFile(filepath.Join(media, c.Name(1)), []byte("another host's"), 0o640)
	if _, err := c.CopyOut(path, media); !errors.Is(err, ErrOtherFile) {
		t.Fatalf("over another file: %v", err)
	}
}
