package audit

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"airlock.dev/airlock/receipt"
)

// gapReport audits a copy of the golden fixture with pci-west seq 3 removed.
func gapReport(t *testing.T) *Report {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, goldenReceipts, dir)
	remove(t, dir, receiptName("pci-west", 3))
	o := goldenOptions(t)
	o.Dir = dir
	r := runAudit(t, o)
	if len(findingsOf(r, KindGap)) != 1 {
		t.Fatalf("want one gap:\n%s", dumpFindings(r))
	}
	return r
}

func renderHTML(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAuditHTMLSelfContained checks that the page loads nothing from
// elsewhere and runs no script.
func TestAuditHTMLSelfContained(t *testing.T) {
	page := string(renderHTML(t, gapReport(t)))
	for _, bad := range []string{"<script", "src=", "<link", "http://", "https://", "url(", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{
		`Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"`,
		`<section id="summary">`, `<section id="timeline">`, `<section id="ledger">`, `<section id="pci">`,
		`class="flag sev-error kind-gap"`, "missing receipt seq 3",
		"10.2.2 user identification", "6.5.1 change approval",
		`<td>migrate</td>`, // steps of an apply
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestAuditHTMLEscapes checks that text from receipts cannot inject markup.
func TestAuditHTMLEscapes(t *testing.T) {
	key := newKey(t)
	dir := t.TempDir()
	c := newChain(t, dir, "z", key)
	c.next(func(p *receipt.Predicate) {
		p.Operator.Name = `<script>alert(1)</script>`
		p.Outcome = receipt.Outcome{Result: receipt.Failed, Reason: "x", Message: `"><img src=x onerror=alert(1)>`}
	})
	page := string(renderHTML(t, runAudit(t, Options{Dir: dir, Keys: pubs(key)})))
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img") {
		t.Error("receipt text was not escaped")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("escaped operator name missing")
	}
}

// browser returns Debian's Chromium, or skips the test (fails when
// AIRLOCK_REQUIRE_BROWSER=1, as in CI).
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("AIRLOCK_REQUIRE_BROWSER") == "1" {
		t.Fatal("AIRLOCK_REQUIRE_BROWSER=1 but neither chromium nor chromium-browser is on PATH (apt-get install chromium)")
	}
	t.Skip("chromium not installed; set AIRLOCK_REQUIRE_BROWSER=1 to require it")
	return ""
}

// consoleLine matches Chromium's log lines for page console messages
// ("[…:INFO:CONSOLE:1] "Uncaught Error: …"", CSP violations) and uncaught
// errors. The report has no script, so any console message is a fault.
var consoleLine = regexp.MustCompile(`(?m)^.*(:CONSOLE\b|Uncaught|Refused to ).*$`)

// TestAuditHTMLInBrowser opens the report in headless Chromium and checks
// that it renders the summary and the flagged gap with no console errors.
func TestAuditHTMLInBrowser(t *testing.T) {
	bin := browser(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, renderHTML(t, gapReport(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--enable-logging=stderr", "--v=0",
		"--dump-dom", "file://"+page)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", bin, err, stderr.String())
	}
	dom := stdout.String()
	for _, want := range []string{
		`<section id="summary">`, `id="verdict"`, "FAIL", "1 problem (1 gap)",
		`class="flag sev-error kind-gap"`, "missing receipt seq 3",
		`id="pci"`, `id="ledger"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if m := consoleLine.FindAllString(stderr.String(), -1); len(m) > 0 {
		t.Errorf("console errors while loading the page:\n%s", strings.Join(m, "\n"))
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
}
