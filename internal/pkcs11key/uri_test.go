package pkcs11key

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		uri    string
		want   string // String(), "" when an error is expected
		desc   string
		errMsg string
	}{
		{uri: "pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
			want: "pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so",
			desc: `PKCS#11 token "airlock", key "release"`},
		{uri: "pkcs11:token=my%20token;object=a%3Bb;type=private",
			want: "pkcs11:token=my%20token;object=a%3Bb", desc: `PKCS#11 token "my token", key "a;b"`},
		{uri: "pkcs11:serial=0123;id=%01%02", want: "pkcs11:serial=0123;id=%01%02", desc: `PKCS#11 token with serial "0123", key with id 0102`},
		{uri: "pkcs11:slot-id=3;object=k?pin-source=/run/pin", want: "pkcs11:slot-id=3;object=k?pin-source=/run/pin", desc: `PKCS#11 token in slot 3, key "k"`},
		{uri: "pkcs11:object=release", errMsg: "name the token by exactly one of"},
		{uri: "pkcs11:token=a;serial=b;object=release", errMsg: "name the token by exactly one of"},
		{uri: "pkcs11:token=a", errMsg: "name the key by object=LABEL or id="},
		{uri: "pkcs11:token=a;object=b;manufacturer=x", errMsg: `attribute "manufacturer" is not supported`},
		{uri: "pkcs11:token=a;object=b?module-name=softhsm2", errMsg: `attribute "module-name" is not supported`},
		{uri: "pkcs11:token=a;object=b;type=cert", errMsg: "type=cert, want a private key"},
		{uri: "pkcs11:token=a;object=b;slot-id=x", errMsg: "slot-id"},
		{uri: "pkcs11:token=a;object=b?pin-value=1&pin-source=/f", errMsg: "pin-source and pin-value"},
		{uri: "pkcs11:token=a;object=b?module-path=lib.so", errMsg: "must be absolute"},
		{uri: "pkcs11:token=a;object", errMsg: "malformed path attribute"},
		{uri: "pkcs11:token=%zz;object=b", errMsg: "invalid url escape"},
		{uri: "file:release.key", errMsg: "missing pcks11: prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			u, err := ParseURI(tc.uri)
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("got %v, want an error with %q", err, tc.errMsg)
				}
				if strings.Contains(err.Error(), "1234") {
					t.Fatalf("the error shows the PIN: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tc.want || u.Describe() != tc.desc {
				t.Fatalf("String() = %q, Describe() = %q\nwant       %q, %q", u.String(), u.Describe(), tc.want, tc.desc)
			}
			if again, err := ParseURI(u.String()); err != nil || again.String() != u.String() {
				t.Fatalf("String() does not parse back to itself: %v %v", again, err)
			}
		})
	}
}

func TestPINSources(t *testing.T) {
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	asked := ""
	ask := func(what string) ([]byte, error) { asked = what; return []byte("typed"), nil }
	tests := []struct {
		name, uri, env, want, asked string
	}{
		{"pin-value first", "pkcs11:token=t;object=k?pin-value=from-uri", "from-env", "from-uri", ""},
		{"pin-source file", "pkcs11:token=t;object=k?pin-source=" + pinFile, "from-env", "from-file", ""},
		{"pin-source file: URI", "pkcs11:token=t;object=k?pin-source=file://" + pinFile, "", "from-file", ""},
		{"environment", "pkcs11:token=t;object=k", "from-env", "from-env", ""},
		{"prompt names token and key", "pkcs11:token=t;object=k", "", "typed", `PKCS#11 token "t", key "k"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			asked = ""
			t.Setenv(PINEnv, tc.env)
			u, err := ParseURI(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			pin, err := u.pin(ask)
			if err != nil || pin != tc.want || asked != tc.asked {
				t.Fatalf("pin %q, asked %q, err %v; want %q, asked %q", pin, asked, err, tc.want, tc.asked)
			}
		})
	}
	t.Setenv(PINEnv, "")
	u, _ := ParseURI("pkcs11:token=t;object=k")
	if _, err := u.pin(nil); err == nil || !strings.Contains(err.Error(), "no PIN was given") {
		t.Fatalf("no PIN source: %v", err)
	}
}

func TestModule(t *testing.T) {
	u, _ := ParseURI("pkcs11:token=t;object=k")
	t.Setenv(ModuleEnv, "")
	if _, err := u.module(); err == nil || !strings.Contains(err.Error(), ModuleEnv) {
		t.Fatalf("no module: %v", err)
	}
	t.Setenv(ModuleEnv, "/lib/p11.so")
	if m, err := u.module(); err != nil || m != "/lib/p11.so" {
		t.Fatalf("module from the environment: %q %v", m, err)
	}
	u, _ = ParseURI("pkcs11:token=t;object=k?module-path=/uri/p11.so")
	if m, err := u.module(); err != nil || m != "/uri/p11.so" {
		t.Fatalf("the URI's module-path comes first: %q %v", m, err)
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("pkcs11:token=airlock;object=release?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
	f.Add("pkcs11:serial=0123;id=%01%02;type=private?pin-source=file:///run/pin")
	f.Add("pkcs11:slot-id=3;object=a%3Bb")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		again, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", u.String(), s, err)
		}
		if again.String() != u.String() {
			t.Fatalf("round trip: %q → %q", u.String(), again.String())
		}
	})
}
