package receipt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
)

func TestFileNames(t *testing.T) {
	for _, tc := range []struct {
		zone, host string
		seq        uint64
	}{{"pci-east", "app-01", 1}, {"pci", "a", 42}, {"a.b_c-d", "h.example.com", 9999999999}, {"pci-east", "", 3}, {"z", "0000000001", 2}} {
		name := FileName(tc.zone, tc.host, tc.seq)
		host, seq, ok := ParseFileName(tc.zone, name)
		if !ok || seq != tc.seq || host != tc.host {
			t.Errorf("ParseFileName(%q, %q) = %q, %d, %v; want %q, %d", tc.zone, name, host, seq, ok, tc.host, tc.seq)
		}
	}
	if got := FileName("pci-east", "app-01", 7); got != "receipt-pci-east-app-01-0000000007.dsse.json" {
		t.Errorf("FileName = %q", got)
	}
	if got := FileName("pci-east", "", 7); got != "receipt-pci-east-0000000007.dsse.json" {
		t.Errorf("version 1 FileName = %q", got)
	}
	for _, name := range []string{
		"receipt-pci-east-0000000007.dsse.json.tmp",
		"receipt-pci-east-000000007.dsse.json",
		"receipt-pci-east-+000000007.dsse.json",
		"receipt-pci-0000000007.dsse.json",
		"receipt-pci-east-x0000000007.dsse.json",
		"receipt-pci-east--0000000007.dsse.json",
		"receipt-pci-east-App-0000000007.dsse.json",
		"receipt-pci-east-a/b-0000000007.dsse.json",
		"receipt-pci-east-app-01-0000000007.files",
	} {
		if host, seq, ok := ParseFileName("pci-east", name); ok {
			t.Errorf("ParseFileName(pci-east, %q) = %q, %d, want no match", name, host, seq)
		}
	}
	if got := FilesListName("receipt-z-0000000001.dsse.json"); got != "receipt-z-0000000001.files" {
		t.Errorf("FilesListName = %q", got)
	}
	if got := LogName("/s/receipt-z-0000000001.dsse.json"); got != "/s/receipt-z-0000000001.log.age" {
		t.Errorf("LogName = %q", got)
	}
	got := string(FilesList([]File{{Path: "/a", SHA256: "aa"}, {Path: "/b c", SHA256: "bb"}}))
	if got != "aa  /a\nbb  /b c\n" {
		t.Errorf("FilesList = %q", got)
	}
}

// TestReadHead: the head is the highest seq of the zone's files; its link
// is what the next receipt names; a head that does not decode is linked
// by the digest of its bytes.
func TestReadHead(t *testing.T) {
	dir := t.TempDir()
	if h, err := ReadHead(dir, "z"); err != nil || h != nil {
		t.Fatalf("empty folder: %v %v", h, err)
	}
	s := bundletest.NewSigner(t)
	one := mustSign(t, s, predicate(1, ""))
	r1, _ := Parse(one)
	two := mustSign(t, s, predicate(2, r1.SHA256))
	// A chain continued under host names from version 1 names.
	for name, data := range map[string][]byte{FileName("z", "", 1): one, FileName("z", "h", 2): two, FileName("other", "h", 9): one, "receipt-z-x.dsse.json": one} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h, err := ReadHead(dir, "z")
	if err != nil || h.Seq != 2 || h.Receipt == nil {
		t.Fatalf("head %+v %v", h, err)
	}
	if r2, _ := Parse(two); h.Link != r2.SHA256 {
		t.Errorf("link %s, want %s", h.Link, r2.SHA256)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName("z", "renamed", 3)), []byte("not a receipt"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err = ReadHead(dir, "z")
	if err != nil || h.Seq != 3 || h.Receipt != nil || h.Err == nil || h.Link != hexSHA([]byte("not a receipt")) {
		t.Errorf("undecodable head %+v %v", h, err)
	}
	if !InChain("z", filesListOf(3)) || !InChain("z", FileName("z", "", 1)) || InChain("z", "receipt-other-0000000001.files") {
		t.Error("InChain")
	}
	// Two files claiming the head's seq: the chain cannot go on from either.
	if err := os.WriteFile(filepath.Join(dir, FileName("z", "h", 3)), two, 0o600); err != nil {
		t.Fatal(err)
	}
	if h, err := ReadHead(dir, "z"); err == nil || !strings.Contains(err.Error(), "two receipts claim seq 3") {
		t.Errorf("two heads: %+v %v", h, err)
	}
}

// filesListOf is the file list name of receipt seq of zone z.
func filesListOf(seq uint64) string { return FilesListName(FileName("z", "h", seq)) }
