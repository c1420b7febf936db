package receipt

import (
	"reflect"
	"strings"
	"testing"
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

func TestInChain(t *testing.T) {
	if !InChain("z", filesListOf(3)) || !InChain("z", FileName("z", "", 1)) || InChain("z", "receipt-other-0000000001.files") {
		t.Error("InChain")
	}
}

// filesListOf is the file list name of receipt seq of zone z.
func filesListOf(seq uint64) string { return FilesListName(FileName("z", "h", seq)) }

// TestFilesList: the deployed file list holds a plain digest only for
// files without a secret, in sha256sum's format, and reads back.
func TestFilesList(t *testing.T) {
	sum, tmpl, mac := strings.Repeat("ab", 32), strings.Repeat("cd", 32), strings.Repeat("ef", 32)
	files := []File{
		{Path: "/srv/a/releases/1/bin/run", SHA256: sum},
		{Path: "/srv/a/releases/1/conf/db (prod).conf", TemplateSHA256: tmpl, HMACSHA256: mac, HMACKey: "0123456789abcdef"},
	}
	list := FilesList(files)
	want := sum + "  /srv/a/releases/1/bin/run\n" +
		"HMAC-SHA256 key=0123456789abcdef template=" + tmpl + " (/srv/a/releases/1/conf/db (prod).conf) = " + mac + "\n"
	if string(list) != want {
		t.Fatalf("FilesList:\n%s\nwant\n%s", list, want)
	}
	got, err := ParseFilesList(list)
	if err != nil || !reflect.DeepEqual(got, files) {
		t.Fatalf("ParseFilesList = %+v, %v; want %+v", got, err, files)
	}
	if got, err := ParseFilesList(nil); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
	for _, bad := range []string{
		"not a digest  /x\n",
		sum + " /x\n",
		"HMAC-SHA256 key= template=" + tmpl + " (/x) = " + mac + "\n",
		"HMAC-SHA256 key=k template=" + tmpl + " (/x) = short\n",
		"HMAC-SHA256 key=k template=" + tmpl + " /x = " + mac + "\n",
	} {
		if _, err := ParseFilesList([]byte(bad)); err == nil {
			t.Errorf("ParseFilesList(%q): no error", bad)
		}
	}
	if s := files[1].Subject(); s.Digest["sha256"] != "" || s.Digest[SubjectHMAC] != mac {
		t.Errorf("subject of a file holding a secret: %+v", s)
	}
}
