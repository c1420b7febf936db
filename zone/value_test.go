package zone

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestValueFromFile: trust.yaml's {fromFile: PATH} is read relative to
// trust.yaml, without one final line break; a literal is itself.
func TestValueFromFile(t *testing.T) {
	dir := t.TempDir()
	rel := writeKey(t, dir, "release.pub")
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	const secret = `p"&<>'\ü€` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "secrets", "db"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "apiVersion: airlock/v1\nzone: pci-east\nroles:\n  release: { threshold: 1, keys: [" + filepath.Base(rel) + "] }\nstate: s\n" +
		"variables:\n  DbPassword: { fromFile: secrets/db }\n  Port: 8080\n"
	p := filepath.Join(dir, "trust.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	v := tr.Variables["DbPassword"]
	if v.FromFile != filepath.Join(dir, "secrets", "db") {
		t.Fatalf("fromFile %q, want it relative to trust.yaml", v.FromFile)
	}
	got, err := v.Read()
	if err != nil || got != secret {
		t.Fatalf("Read = %q, %v; want %q (one final line break dropped)", got, err, secret)
	}
	if got, err := tr.Variables["Port"].Read(); err != nil || got != "8080" {
		t.Fatalf("literal: %q, %v", got, err)
	}
}

// TestValueFileRefused: a value file others could replace or rewrite, or
// that is not a small text file, is refused with an error naming the file
// and never holding its content.
func TestValueFileRefused(t *testing.T) {
	dir := t.TempDir()
	const content = "do-not-print-me"
	write := func(name string, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		return p
	}
	good := write("good", content, 0o600)
	tests := []struct {
		name, path, want string
		unixOnly         bool
	}{
		{name: "symbolic link", path: func() string {
			l := filepath.Join(dir, "link")
			if err := os.Symlink(good, l); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
			return l
		}(), want: "symbolic link"},
		{name: "group-writable", path: write("group-writable", content, 0o660), want: "writable by group or others (mode 0660)", unixOnly: true},
		{name: "world-writable", path: write("world-writable", content, 0o602), want: "writable by group or others (mode 0602)", unixOnly: true},
		{name: "too large", path: write("large", strings.Repeat("x", MaxValueFileSize+1), 0o600), want: "larger than"},
		{name: "binary", path: write("binary", "a\x00b", 0o600), want: "not UTF-8 text"},
		{name: "not UTF-8", path: write("latin1", "caf\xe9", 0o600), want: "not UTF-8 text"},
		{name: "directory", path: dir, want: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unixOnly && runtime.GOOS == "windows" {
				t.Skip("modes are not checked on Windows")
			}
			_, err := Value{FromFile: tt.path}.Read()
			if !errors.Is(err, ErrValueFile) || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrValueFile naming %s: %s", err, tt.path, tt.want)
			}
			if strings.Contains(err.Error(), content) {
				t.Fatalf("the error shows the value: %v", err)
			}
		})
	}
	if _, err := (Value{FromFile: filepath.Join(dir, "missing")}).Read(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
	if got, err := (Value{FromFile: good}).Read(); err != nil || got != content {
		t.Fatalf("good file: %q, %v", got, err)
	}
}
