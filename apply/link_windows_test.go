//go:build windows

package apply

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"golang.org/x/sys/windows"

	"airlock.dev/airlock/bundle/bundletest"
)

// makeDirLink makes link a junction to the directory target, as someone
// planting one would (a junction needs no privilege; a symbolic link
// would).
func makeDirLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Mkdir(link, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := setJunction(link, target, false); err != nil {
		t.Fatal(err)
	}
}

// skipWithoutLinks skips a test of the release switch where junctions
// cannot be made: Wine (8.0, Debian 12) does not implement
// FSCTL_SET_REPARSE_POINT. There, what is not covered is exactly the
// switch itself — making a junction, replacing its target in place,
// reading it back, and the refusal of a planted junction — which runs
// on Windows itself. With AIRLOCK_REQUIRE_JUNCTIONS=1 it fails instead.
func skipWithoutLinks(t *testing.T) {
	t.Helper()
	dir := bundletest.TempDir(t)
	probe := filepath.Join(dir, "probe")
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Fatal(err)
	}
	err := setJunction(probe, dir, false)
	if err == nil {
		if _, err = readJunction(probe); err == nil {
			return
		}
	}
	if os.Getenv("AIRLOCK_REQUIRE_JUNCTIONS") == "1" {
		t.Fatalf("cannot make a junction: %v (AIRLOCK_REQUIRE_JUNCTIONS=1)", err)
	}
	var errno windows.Errno
	errors.As(err, &errno)
	t.Skipf("not covered here: this Windows cannot make directory junctions (%v, errno %d); the release switch is tested where it can", err, uint32(errno))
}

// TestJunctionBuffer: the reparse data pointCurrent writes is a mount
// point whose substitute name is the NT path of the target and whose
// print name is the target, as FSCTL_SET_REPARSE_POINT takes it; reading
// it back gives the target.
func TestJunctionBuffer(t *testing.T) {
	for _, target := range []string{`C:\srv\shop\releases\2.4.1`, `D:\アプリ\releases\1.0~2`} {
		buf := mountPointBuffer(target)
		if tag := binary.LittleEndian.Uint32(buf); tag != windows.IO_REPARSE_TAG_MOUNT_POINT {
			t.Fatalf("tag %#x", tag)
		}
		if n := int(binary.LittleEndian.Uint16(buf[4:])); n != len(buf)-8 {
			t.Fatalf("ReparseDataLength %d, want %d", n, len(buf)-8)
		}
		substLen, printOff, printLen := binary.LittleEndian.Uint16(buf[10:]), binary.LittleEndian.Uint16(buf[12:]), binary.LittleEndian.Uint16(buf[14:])
		if int(substLen) != 2*len(utf16.Encode([]rune(ntPrefix+target))) || printOff != substLen+2 || int(printLen) != 2*len(utf16.Encode([]rune(target))) {
			t.Fatalf("names: substitute %d bytes, print name at %d, %d bytes", substLen, printOff, printLen)
		}
		got, err := parseMountPoint(buf)
		if err != nil || got != target {
			t.Fatalf("parsed %q, %v; want %q", got, err, target)
		}
	}
	if _, err := parseMountPoint([]byte{0xc, 0, 0, 0xa0, 0, 0, 0, 0}); err == nil {
		t.Error("a symbolic link's reparse data parsed as a junction")
	}
}
