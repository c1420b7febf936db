//go:build unix

package apply

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// stepsRelease is a release of steps only (YAML list items, indented by
// two spaces), with the variables of the test zone.
func stepsRelease(steps string) string {
	return `apiVersion: airlock/v1
name: shop
version: "1.0.0"
targets: [zone:test]
variables:
  Root: /nonexistent
  Marker: /nonexistent
  Greeting: hello
  "Logging:LogLevel:Default": Debug
steps:
` + steps
}

// applySteps builds and applies a release of steps and returns its receipt.
func (z *testZone) applySteps(steps string, files map[string]string) (*receipt.Predicate, error) {
	z.t.Helper()
	if files == nil {
		files = map[string]string{}
	}
	dir, _ := z.f.Build(bundletest.Options{YAML: stepsRelease(steps), Files: files, Sequence: 1})
	res, err := z.apply(dir)
	if res == nil {
		z.t.Fatalf("apply: %v\n%s", err, z.out.String())
	}
	return z.receipt(res), err
}

func stepNamed(t *testing.T, p *receipt.Predicate, name string) receipt.Step {
	t.Helper()
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in the receipt", name)
	return receipt.Step{}
}

// TestCheckHTTPTurnsHealthy: a check polls a local server that answers
// 503 three times, then 200 with the text it waits for; the receipt
// records the attempts, the last status and how long it took.
func TestCheckHTTPTurnsHealthy(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"status":"up","version":"1.0.0"}`)
	}))
	defer srv.Close()
	z := newZone(t)
	p, err := z.applySteps(fmt.Sprintf(`  - name: healthy
    check:
      http: "%s/health"
      contains: '"version":"#{Airlock.Release.Version}"'
      interval: 100ms
      timeout: 30s
`, srv.URL), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	s := stepNamed(t, p, "healthy")
	if s.Kind != "check" || s.Result != receipt.StepSucceeded || s.Attempts != 4 || s.LastStatus != 200 ||
		s.Check != srv.URL+"/health" || s.Duration == "" || s.ExitCode != 0 {
		t.Fatalf("receipt step %+v", s)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("the server saw %d requests, want 4", n)
	}
}

// TestCheckHTTPNotHealthy: a check that never sees a healthy answer fails
// the step after its timeout, and the apply rolls back.
func TestCheckHTTPNotHealthy(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	z := newZone(t)
	p, err := z.applySteps(fmt.Sprintf("  - name: healthy\n    check: { http: %q, interval: 200ms, timeout: 1s }\n", srv.URL), nil)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want ErrStepFailed", err)
	}
	s := stepNamed(t, p, "healthy")
	if s.Result != receipt.StepFailed || s.LastStatus != 503 || s.Attempts < 2 || int(hits.Load()) != s.Attempts ||
		!strings.Contains(s.Error, "status 503, want 2xx") || !strings.Contains(s.Error, "is not healthy after") {
		t.Fatalf("receipt step %+v (server saw %d)", s, hits.Load())
	}
	if p.Outcome.Result != receipt.RolledBack {
		t.Errorf("outcome %s, want rolled-back", p.Outcome.Result)
	}
}

// TestCheckHTTPNoRedirect: the applier reaches only what the step names:
// a redirect is an answer, not followed.
func TestCheckHTTPNoRedirect(t *testing.T) {
	var followed atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	defer srv.Close()
	z := newZone(t)
	p, err := z.applySteps(fmt.Sprintf("  - name: healthy\n    check: { http: %q, interval: 200ms, timeout: 1s }\n", srv.URL), nil)
	if !errors.Is(err, ErrStepFailed) || followed.Load() {
		t.Fatalf("apply: %v, redirect followed: %v", err, followed.Load())
	}
	if s := stepNamed(t, p, "healthy"); s.LastStatus != http.StatusFound {
		t.Errorf("last status %d, want 302", s.LastStatus)
	}
}

// TestCheckHTTPSWithCAFile: an https check trusts the CA file it names
// (and only then the test server's certificate).
func TestCheckHTTPSWithCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	z := newZone(t)
	ca := filepath.Join(z.dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := fmt.Sprintf(`  - name: trusted
    check: { http: %q, caFile: %q, status: 200, interval: 200ms, timeout: 5s }
  - name: untrusted
    check: { http: %q, interval: 200ms, timeout: 1s }
`, srv.URL, ca, srv.URL)
	p, err := z.applySteps(steps, nil)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want the untrusted check to fail", err)
	}
	if s := stepNamed(t, p, "trusted"); s.Result != receipt.StepSucceeded || s.LastStatus != 200 {
		t.Errorf("trusted: %+v", s)
	}
	if s := stepNamed(t, p, "untrusted"); s.Result != receipt.StepFailed || !strings.Contains(s.Error, "certificate") {
		t.Errorf("untrusted: %+v", s)
	}
}

// TestCheckTCP: a tcp check connects to a listening port; one nobody
// listens on fails after its timeout.
func TestCheckTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	z := newZone(t)
	steps := fmt.Sprintf(`  - name: open
    check: { tcp: %q }
  - name: closed
    check: { tcp: %q, interval: 200ms, timeout: 1s }
`, ln.Addr().String(), closedAddr)
	p, err := z.applySteps(steps, nil)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want the closed port to fail", err)
	}
	if s := stepNamed(t, p, "open"); s.Result != receipt.StepSucceeded || s.Attempts != 1 || s.Check != ln.Addr().String() {
		t.Errorf("open: %+v", s)
	}
	// The last attempt is refused, or, on a loaded machine, cut short by
	// the check's timeout before the refusal arrives.
	if s := stepNamed(t, p, "closed"); s.Result != receipt.StepFailed || s.Attempts < 2 || !strings.Contains(s.Error, "is not healthy after") ||
		!(strings.Contains(s.Error, "refused") || strings.Contains(s.Error, "timeout")) {
		t.Errorf("closed: %+v", s)
	}
}

// TestScriptSubstitution: a script step with substitute: true runs its
// script with #{...} substituted; the staged script is left as signed, so
// another step running it without substitute sees the text as it is.
// Variables named by a key path are not in the environment.
func TestScriptSubstitution(t *testing.T) {
	z := newZone(t)
	steps := `  - name: substituted
    script: scripts/report.sh
    substitute: true
  - name: plain
    script: scripts/report.sh
`
	script := "echo \"lit=#{Greeting} env=$Greeting logging=$(env | grep -c Logging)\" >> \"$Marker\"\n"
	if _, err := z.applySteps(steps, map[string]string{"scripts/report.sh": script}); err != nil {
		t.Fatalf("%v\n%s", err, z.out.String())
	}
	want := "lit=hello env=hello logging=0\nlit=#{Greeting} env=hello logging=0\n"
	if got := z.markers(); got != want {
		t.Errorf("marker %q, want %q", got, want)
	}
}

// TestCheckMasksSecrets: a check URL built from a sensitive variable is
// recorded and printed masked; the server got the real value.
func TestCheckMasksSecrets(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Query().Get("token"))
		fmt.Fprint(w, "up")
	}))
	defer srv.Close()
	z := newZone(t)
	yaml := strings.Replace(stepsRelease(fmt.Sprintf("  - name: healthy\n    check: { http: \"%s/health?token=#{Secret}\", contains: nope, interval: 100ms, timeout: 1s }\n", srv.URL)),
		"variables:", "variables:\n  Secret: { sensitive: true, fromEnv: SHOP_SECRET }", 1)
	dir, _ := z.f.Build(bundletest.Options{YAML: yaml, Files: map[string]string{}, Sequence: 1, Secret: secret})
	res, err := z.apply(dir)
	if !errors.Is(err, ErrStepFailed) {
		t.Fatalf("apply: %v, want the check to fail (the body lacks the text)", err)
	}
	p := z.receipt(res)
	s := stepNamed(t, p, "healthy")
	if got.Load() != secret {
		t.Fatalf("the server got token %v", got.Load())
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret) || strings.Contains(z.out.String(), secret) {
		t.Error("the secret is in the receipt or the output")
	}
	if !strings.Contains(s.Check, "token=********") || !strings.Contains(s.Error, "do not contain the text of check.contains") {
		t.Errorf("step %+v", s)
	}
}
