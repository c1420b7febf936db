package agekeys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"filippo.io/age/plugin"
	"golang.org/x/crypto/ssh"
)

// roundTrip encrypts to the recipient string and decrypts with the
// identity file, both parsed as airlock parses them at build and in a zone.
func roundTrip(t *testing.T, recipient, identityFile string) {
	t.Helper()
	ui := TerminalUI(io.Discard)
	r, err := ParseRecipient(recipient, ui)
	if err != nil {
		t.Fatalf("ParseRecipient: %v", err)
	}
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, r)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "payload")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentitiesFile(identityFile, ui, nil)
	if err != nil {
		t.Fatalf("ParseIdentitiesFile: %v", err)
	}
	pr, err := age.Decrypt(&ct, ids...)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(pr); string(b) != "payload" {
		t.Fatalf("decrypted %q", b)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "identity")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestX25519(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	roundTrip(t, id.Recipient().String(), writeFile(t, "# zone\n"+id.String()+"\n"))
}

func TestPostQuantum(t *testing.T) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id.Recipient().String(), "age1pq1") {
		t.Fatalf("recipient %.12s…", id.Recipient().String())
	}
	roundTrip(t, id.Recipient().String(), writeFile(t, id.String()+"\n"))
}

func TestSSH(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))), writeFile(t, string(pem.EncodeToMemory(block))))
}

// TestPlugin goes through the age plugin protocol with the real
// age-plugin-batchpass (installed with the age CLI).
func TestPlugin(t *testing.T) {
	if _, err := exec.LookPath("age-plugin-batchpass"); err != nil {
		if os.Getenv("AIRLOCK_REQUIRE_INTEROP") == "1" {
			t.Fatal("age-plugin-batchpass not on PATH (AIRLOCK_REQUIRE_INTEROP=1)")
		}
		t.Skip("age-plugin-batchpass not on PATH")
	}
	t.Setenv("AGE_PASSPHRASE", "correct horse battery staple")
	id := plugin.EncodeIdentity("batchpass", nil)
	roundTrip(t, id, writeFile(t, id+"\n"))
}

func TestRecipientErrors(t *testing.T) {
	for _, s := range []string{"", "age1", "age1qqqq", "ssh-ed25519 AAAA", "AGE-SECRET-KEY-1QQQ", "nonsense"} {
		if _, err := ParseRecipient(s, nil); err == nil {
			t.Errorf("ParseRecipient(%q) accepted", s)
		}
	}
	id, _ := age.GenerateX25519Identity()
	pq, _ := age.GenerateHybridIdentity()
	if err := CheckMix([]age.Recipient{id.Recipient(), pq.Recipient()}); err == nil {
		t.Error("mixing post-quantum and classic recipients was accepted")
	}
}

func TestIdentityErrorsHideKeys(t *testing.T) {
	secret := "AGE-SECRET-KEY-1NOTAREALKEYBUTSECRETLOOKING"
	_, err := ParseIdentitiesFile(writeFile(t, secret+"\n"), nil, nil)
	if err == nil || strings.Contains(err.Error(), "NOTAREAL") {
		t.Fatalf("err = %v", err)
	}
}

// encryptWithPassphrase does what `age -p [-a]` does to an identity file
// (one scrypt stanza), with a low work factor to keep the test fast.
func encryptWithPassphrase(t *testing.T, plain, pass string, armored bool) string {
	t.Helper()
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		t.Fatal(err)
	}
	r.SetWorkFactor(10)
	var buf bytes.Buffer
	var dst io.Writer = &buf
	var aw io.WriteCloser
	if armored {
		aw = armor.NewWriter(&buf)
		dst = aw
	}
	w, err := age.Encrypt(dst, r)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestPassphraseProtectedIdentity(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	plain := "# zone identity\n" + id.String() + "\n"
	asked := 0
	pass := func(p string) func() ([]byte, error) {
		return func() ([]byte, error) { asked++; return []byte(p), nil }
	}
	for _, armored := range []bool{false, true} {
		file := writeFile(t, encryptWithPassphrase(t, plain, "zone passphrase", armored))
		asked = 0
		ids, err := ParseIdentitiesFile(file, nil, pass("zone passphrase"))
		if err != nil || len(ids) != 1 || asked != 1 {
			t.Fatalf("armored=%v: %v (%d identities, asked %d times)", armored, err, len(ids), asked)
		}
		if x, ok := ids[0].(*age.X25519Identity); !ok || x.String() != id.String() {
			t.Fatalf("armored=%v: decrypted another identity", armored)
		}
		if _, err := ParseIdentitiesFile(file, nil, pass("wrong")); !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), file) {
			t.Fatalf("armored=%v, wrong passphrase: %v", armored, err)
		}
		if _, err := ParseIdentitiesFile(file, nil, nil); !errors.Is(err, ErrNoPassphrase) {
			t.Fatalf("armored=%v, no passphrase: %v", armored, err)
		}
	}
	// A plain identity file never asks.
	asked = 0
	if _, err := ParseIdentitiesFile(writeFile(t, plain), nil, pass("x")); err != nil || asked != 0 {
		t.Fatalf("plain file: %v, asked %d times", err, asked)
	}

	other, _ := age.GenerateX25519Identity()
	var toKey bytes.Buffer
	w, _ := age.Encrypt(&toKey, other.Recipient())
	io.WriteString(w, plain)
	w.Close()
	enc := encryptWithPassphrase(t, plain, "p", false)
	tests := []struct{ name, content, want string }{
		{"encrypted to a key, not a passphrase", toKey.String(), "encrypted with age, but not with a passphrase"},
		{"truncated", enc[:len(enc)-10], "identity"},
		{"encrypted garbage", encryptWithPassphrase(t, "not an identity\n", "p", false), "invalid identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIdentitiesFile(writeFile(t, tc.content), nil, pass("p"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPassphraseIdentityFromAgeCLI: an identity file encrypted by the age
// CLI with a passphrase (the scrypt stanza of `age -p`, given here by
// age-plugin-batchpass since age -p reads only a terminal) opens.
func TestPassphraseIdentityFromAgeCLI(t *testing.T) {
	for _, tool := range []string{"age", "age-plugin-batchpass"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("AIRLOCK_REQUIRE_INTEROP") == "1" {
				t.Fatalf("%s not on PATH (AIRLOCK_REQUIRE_INTEROP=1)", tool)
			}
			t.Skipf("%s not on PATH", tool)
		}
	}
	id, _ := age.GenerateX25519Identity()
	plainFile := writeFile(t, id.String()+"\n")
	for _, armor := range []string{"", "-a"} {
		out := plainFile + ".age" + armor
		cmd := exec.Command("age", "-e", "-j", "batchpass", "-o", out)
		if armor != "" {
			cmd.Args = append(cmd.Args, armor)
		}
		cmd.Args = append(cmd.Args, plainFile)
		cmd.Env = append(os.Environ(), "AGE_PASSPHRASE=from the cli", "AGE_PASSPHRASE_WORK_FACTOR=10")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("age -e -j batchpass %s: %v\n%s", armor, err, b)
		}
		ids, err := ParseIdentitiesFile(out, nil, func() ([]byte, error) { return []byte("from the cli"), nil })
		if err != nil || len(ids) != 1 || ids[0].(*age.X25519Identity).String() != id.String() {
			t.Fatalf("%s: %v", out, err)
		}
	}
}
