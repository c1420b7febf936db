// Package softhsmtest gives tests a real PKCS#11 token: SoftHSM2 with its
// own configuration and token folder in a temporary directory, a token
// labelled [Label] with user PIN [PIN]. Tests skip when SoftHSM2 is not
// installed (Debian: softhsm2), unless AIRLOCK_REQUIRE_SOFTHSM=1 (set by
// CI), where its absence fails them. It is imported only by tests.
package softhsmtest

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The test token.
const (
	Label = "airlock"
	PIN   = "1234"
	SOPIN = "5678"
)

// RequireEnv makes a missing SoftHSM2 a failure instead of a skip.
const RequireEnv = "AIRLOCK_REQUIRE_SOFTHSM"

// modules are where distributions install the SoftHSM2 module.
var modules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module string // the PKCS#11 module
	Conf   string // its SOFTHSM2_CONF
}

// Find returns the SoftHSM2 module, or "" with the reason it is missing.
func Find() (module, missing string) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return "", "softhsm2-util not found on PATH (Debian: apt-get install softhsm2)"
	}
	for _, m := range modules {
		if _, err := os.Stat(m); err == nil {
			return m, ""
		}
	}
	return "", "the SoftHSM2 module libsofthsm2.so was not found"
}

// New initialises a token in a temporary directory and points
// SOFTHSM2_CONF at it for the rest of the test; it skips (or, with
// AIRLOCK_REQUIRE_SOFTHSM=1, fails) when SoftHSM2 is not installed.
func New(t testing.TB) *Token {
	t.Helper()
	if _, missing := Find(); missing != "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s (%s=1)", missing, RequireEnv)
		}
		t.Skip(missing)
	}
	tk, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tk.Conf)
	return tk
}

// Init creates the configuration and an initialised token under dir. The
// caller sets SOFTHSM2_CONF=tk.Conf in the environment of whatever uses it.
func Init(dir string) (*Token, error) {
	module, missing := Find()
	if missing != "" {
		return nil, fmt.Errorf("softhsm: %s", missing)
	}
	tokens := filepath.Join(dir, "softhsm-tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", Label, "--pin", PIN, "--so-pin", SOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return &Token{Module: module, Conf: conf}, nil
}

// URI names the key object in the token, with the module and the PIN.
func (tk *Token) URI(object string) string {
	return "pkcs11:token=" + Label + ";object=" + url.PathEscape(object) +
		"?module-path=" + tk.Module + "&pin-value=" + PIN
}
