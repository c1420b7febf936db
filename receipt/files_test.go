package receipt

import "testing"

func TestFileNames(t *testing.T) {
	for _, tc := range []struct {
		zone string
		seq  uint64
	}{{"pci-east", 1}, {"pci", 42}, {"a.b_c-d", 9999999999}} {
		name := FileName(tc.zone, tc.seq)
		seq, ok := SeqOf(tc.zone, name)
		if !ok || seq != tc.seq {
			t.Errorf("SeqOf(%q, %q) = %d, %v; want %d", tc.zone, name, seq, ok, tc.seq)
		}
	}
	if got := FileName("pci-east", 7); got != "receipt-pci-east-0000000007.dsse.json" {
		t.Errorf("FileName = %q", got)
	}
	for _, name := range []string{
		"receipt-pci-east-0000000007.dsse.json.tmp",
		"receipt-pci-east-000000007.dsse.json",
		"receipt-pci-east-+000000007.dsse.json",
		"receipt-pci-0000000007.dsse.json",
		"receipt-pci-east-x-0000000007.dsse.json",
	} {
		if seq, ok := SeqOf("pci-east", name); ok {
			t.Errorf("SeqOf(pci-east, %q) = %d, want no match", name, seq)
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
