package hostinfo

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestCurrentIdentity(t *testing.T) {
	t.Setenv("SUDO_USER", "alice")
	t.Setenv("SUDO_UID", "1001")
	id := CurrentIdentity()
	if id.User == "" || id.UID == "" {
		t.Fatalf("identity %+v", id)
	}
	if runtime.GOOS != "windows" && id.UID != strconv.Itoa(os.Getuid()) {
		t.Errorf("uid %s, want %d", id.UID, os.Getuid())
	}
	if id.SudoUser != "alice" || id.SudoUID != "1001" {
		t.Errorf("sudo %q %q", id.SudoUser, id.SudoUID)
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/self/loginuid")
		if err == nil && strings.TrimSpace(string(b)) != "4294967295" && id.LoginUID == "" {
			t.Errorf("loginuid %q not recorded", b)
		}
	}
}

func TestReadClock(t *testing.T) {
	c, ok := ReadClock()
	if runtime.GOOS != "linux" {
		if ok {
			t.Fatal("clock state reported on a system without adjtimex")
		}
		return
	}
	if !ok {
		t.Fatal("adjtimex did not answer")
	}
	if c.Method != "adjtimex" || c.MaxErrorMicros < 0 || c.EstimatedErrorMicros < 0 {
		t.Errorf("clock %+v", c)
	}
}

func TestExecutableSHA256(t *testing.T) {
	if s := ExecutableSHA256(); len(s) != 64 {
		t.Errorf("digest %q", s)
	}
}
