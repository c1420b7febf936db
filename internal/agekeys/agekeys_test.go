package agekeys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
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
	ids, err := ParseIdentitiesFile(identityFile, ui)
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
	_, err := ParseIdentitiesFile(writeFile(t, secret+"\n"), nil)
	if err == nil || strings.Contains(err.Error(), "NOTAREAL") {
		t.Fatalf("err = %v", err)
	}
}
