// Package registrytest starts a real container registry for tests:
// Debian's docker-registry (distribution 2.8), on 127.0.0.1 at a port of
// its own, storing in a test folder, optionally with TLS from a test
// certificate authority and htpasswd authentication. Tests skip when the
// registry is not installed, unless AIRLOCK_REQUIRE_REGISTRY=1.
package registrytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is the registry's program; RequireEnv makes its absence a failure.
const (
	Binary     = "/usr/bin/docker-registry"
	RequireEnv = "AIRLOCK_REQUIRE_REGISTRY"
)

// Options configure a registry.
type Options struct {
	TLS      bool   // serve HTTPS with a certificate of a test CA
	Username string // with Password: htpasswd authentication
	Password string
}

// Registry is a running registry.
type Registry struct {
	Host   string // 127.0.0.1:PORT
	URL    string // http(s)://Host
	CAFile string // the test CA's certificate (TLS)
	Dir    string // its storage
	cmd    *exec.Cmd
}

// Skip skips t when the registry is not installed (fails it under RequireEnv=1).
func Skip(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s=1 but %s is missing: %v", RequireEnv, Binary, err)
		}
		t.Skipf("%s is not installed (Debian package docker-registry)", Binary)
	}
}

// Start starts a registry that is stopped when t ends.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	Skip(t)
	dir := t.TempDir()
	port := freePort(t)
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), Dir: filepath.Join(dir, "storage")}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: %q}
  delete: {enabled: true}
http:
  addr: %q
`, r.Dir, r.Host)
	scheme := "http"
	if o.TLS {
		scheme = "https"
		cert, key := writeCerts(t, dir)
		r.CAFile = filepath.Join(dir, "ca.pem")
		config += fmt.Sprintf("  tls: {certificate: %q, key: %q}\n", cert, key)
	}
	if o.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(o.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		config += fmt.Sprintf("auth:\n  htpasswd: {realm: airlock-test, path: %q}\n", htpasswd)
	}
	r.URL = scheme + "://" + r.Host
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(Binary, "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-exited
		log.Close()
	})
	r.waitReady(t, exited, filepath.Join(dir, "registry.log"))
	return r
}

// Stop stops the registry (a zone registry that is down).
func (r *Registry) Stop() { r.cmd.Process.Kill() }

// waitReady polls /v2/ until the registry answers.
func (r *Registry) waitReady(t testing.TB, exited chan error, logFile string) {
	t.Helper()
	client := r.Client(t)
	for i := 0; ; i++ {
		select {
		case err := <-exited:
			exited <- err
			out, _ := os.ReadFile(logFile)
			t.Fatalf("docker-registry exited: %v\n%s", err, out)
		default:
		}
		resp, err := client.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if i > 600 {
			out, _ := os.ReadFile(logFile)
			t.Fatalf("docker-registry does not answer at %s: %v\n%s", r.URL, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Client is an HTTP client that trusts the registry's CA.
func (r *Registry) Client(t testing.TB) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCerts writes a test CA (ca.pem) and a certificate for 127.0.0.1
// that it signed, and returns the certificate's and key's paths.
func writeCerts(t testing.TB, dir string) (string, string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "airlock test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames: []string{"localhost"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.pem", "CERTIFICATE", caDER)
	return write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER)
}
