package audit

import (
	"bytes"
	"context"
	stdhtml "html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
		`<td>migrate<div`,                                // steps of an apply
		`<svg class="timeline"`, "@page", "@media print", // a picture, and a print stylesheet
		"relation &#34;ledger_entries&#34; already exists", // why a step failed
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
		p.Host.Name = `</text><script>alert(2)</script>`
		p.Operator.Name = `<script>alert(1)</script>`
		p.Outcome = receipt.Outcome{Result: receipt.Failed, Reason: "x", Message: `"><img src=x onerror=alert(1)>`}
	})
	page := string(renderHTML(t, runAudit(t, Options{Dir: dir, Keys: pubs(key)})))
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img") || strings.Contains(page, "</text><script") {
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

// chromium runs headless Chromium on a page with a fresh profile, with
// mode the last arguments (--dump-dom, or --print-to-pdf=FILE), and returns
// its output and log.
func chromium(t *testing.T, bin, dir, page string, mode ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(append(args, mode...), "file://"+page)...)
	cmd.WaitDelay = 5 * time.Second
	var out, log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", bin, err, log.String())
	}
	return out.String(), log.String()
}

// TestAuditHTMLInBrowser opens the report in headless Chromium and checks
// that it renders the summary and the flagged gap with no console errors.
func TestAuditHTMLInBrowser(t *testing.T) {
	bin := browser(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, renderHTML(t, gapReport(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, log := chromium(t, bin, dir, page, "--dump-dom")
	for _, want := range []string{
		`<section id="summary">`, `id="verdict"`, "FAIL", "1 problem (1 gap)",
		`class="flag sev-error kind-gap"`, "missing receipt seq 3",
		`id="pci"`, `id="ledger"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if m := consoleLine.FindAllString(log, -1); len(m) > 0 {
		t.Errorf("console errors while loading the page:\n%s", strings.Join(m, "\n"))
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", log)
	}
}

// pdfTools returns pdftotext and pdfinfo (Debian poppler-utils), or skips
// (fails when AIRLOCK_REQUIRE_BROWSER=1).
func pdfTools(t *testing.T) (string, string) {
	t.Helper()
	text, err1 := exec.LookPath("pdftotext")
	info, err2 := exec.LookPath("pdfinfo")
	if err1 == nil && err2 == nil {
		return text, info
	}
	if os.Getenv("AIRLOCK_REQUIRE_BROWSER") == "1" {
		t.Fatal("AIRLOCK_REQUIRE_BROWSER=1 but pdftotext/pdfinfo are not on PATH (apt-get install poppler-utils)")
	}
	t.Skip("poppler-utils not installed; set AIRLOCK_REQUIRE_BROWSER=1 to require it")
	return "", ""
}

// TestAuditHTMLPrints prints the report with Chromium (--print-to-pdf) on
// A4 portrait and reads the PDF's text back: every section and every
// column is there, collapsed details are expanded, nothing is cut, no word
// is split across lines, the timeline is labelled — each host's lane, its
// failures and refusals, a tampering refusal unlike any other — and every
// page carries the airlock version, the verdict, the zones, the period and
// the report's digest. The PDF and a PNG of its first page are kept as
// test artifacts (go test -artifacts -outputdir DIR) for people to look at.
func TestAuditHTMLPrints(t *testing.T) {
	bin := browser(t)
	pdftotext, pdfinfo := pdfTools(t)
	dir, art := t.TempDir(), t.ArtifactDir()
	r := printedReport(t)
	page := filepath.Join(dir, "report.html")
	html := renderHTML(t, r)
	if err := os.WriteFile(page, html, 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(art, "report.pdf")
	chromium(t, bin, dir, page, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	out, err := exec.Command(pdftotext, "-raw", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	// Text in table cells may wrap; compare with whitespace collapsed.
	text := strings.Join(strings.Fields(string(out)), " ")
	digest, err := r.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// sections
		"airlock audit report", "Summary", "Findings (", "Per-zone timeline", "Zone pci-east", "Zone pci-west", "Ledger reconciliation", "PCI DSS evidence",
		// what the report states about itself
		"airlock test", "--ledger-key", "sha256 " + digest, "sha256 " + r.PolicySHA256,
		// columns of every table
		"Zone / host Receipts Period (UTC) Outcomes Chain Head sha256",
		"ID Severity What",
		"Host · seq Started (UTC) Bundle or event Result Person Approved by · ledger",
		"Step Result Started Duration Error",
		"Bundle Issued · expires Targets Status Hosts it is for Where and when applied",
		"Requirement Evidence in this folder Status Still to obtain elsewhere",
		// details, collapsed on screen, printed
		`relation "ledger_entries" already exists`, "listen tcp :8443",
		// the findings, the gate, the evidence map and what it asks
		"missing receipt seq 3", "FAILS error", "10.2.2 user identification", "6.5.6 test data removed", "partial",
		"the hosts' own logs (auditd, sudo, the shell)",
		// the timeline: lanes, ticks, labelled failures and refusals
		"pci-east-01", "pci-west-01", "pci-north-01", "UTC", "2026-03-01", "#3 failed", "#4 rolled back", "#8 refused", "#3 refused: tampering", "#4 refused",
	} {
		if !strings.Contains(text, strings.Join(strings.Fields(want), " ")) {
			t.Errorf("printed report lacks %q", want)
		}
	}
	// Full digests: a printed line may wrap inside one, never cut it.
	joined := strings.Join(strings.Fields(string(out)), "")
	for _, z := range r.Zones {
		for _, c := range z.Chains {
			if !strings.Contains(joined, c.HeadSHA256) {
				t.Errorf("printed report lacks the head digest of %s/%s, %s", z.Name, c.Host, c.HeadSHA256)
			}
		}
	}
	if split := splitWords(string(out), pageWords(html)); len(split) > 0 {
		t.Errorf("words split across lines: %q", split)
	}
	infoOut, err := exec.Command(pdfinfo, pdf).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	pages := 0
	for _, line := range strings.Split(string(infoOut), "\n") {
		if n, ok := strings.CutPrefix(line, "Pages:"); ok {
			pages, _ = strconv.Atoi(strings.TrimSpace(n))
		}
		if size, ok := strings.CutPrefix(line, "Page size:"); ok && !strings.Contains(size, "(A4)") {
			t.Errorf("page size %s, want A4 portrait", strings.TrimSpace(size))
		}
	}
	for _, running := range []string{
		"airlock audit report · airlock test · FAIL",
		"zones pci-east, pci-north, pci-west · period " + r.period(),
		"report sha256 " + digest,
	} {
		if n := strings.Count(text, running); pages < 2 || n != pages {
			t.Errorf("%q is on %d of %d pages", running, n, pages)
		}
	}
	// Page 1 as a picture, for people to look at.
	png := filepath.Join(art, "report-page1")
	if msg, err := exec.Command("pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", pdf, png).CombinedOutput(); err != nil {
		t.Errorf("pdftoppm: %v\n%s", err, msg)
	}
	t.Logf("%d pages; kept %s and %s.png", pages, pdf, png)
	if t.Failed() {
		t.Logf("PDF text:\n%s", out)
	}
}

// printedReport is the golden fixture with pci-west seq 3 removed (a gap)
// and a third zone, pci-north, whose host refused a tampered bundle (its
// parts check failed) and one the policy refused for a missing approval.
func printedReport(t *testing.T) *Report {
	t.Helper()
	dir := t.TempDir()
	copyTree(t, goldenReceipts, dir)
	remove(t, dir, receiptName("pci-west", 3))
	north := newKey(t)
	c := newChain(t, dir, "pci-north", north)
	c.clock = at(21, 9, 0)
	pol := testPolicy("north", "pci-north", []receipt.PolicyKey{releaseKey}, []receipt.PolicyKey{approveKey})
	c.control(pol, nil, receipt.Operator{User: "alice", UID: "1001"})
	c.next(under(pol))
	c.next(under(pol), func(p *receipt.Predicate) {
		p.Bundle.Verified, p.Bundle.Signers, p.Steps = false, nil, nil
		p.Outcome = receipt.Outcome{Result: receipt.Refused, Reason: receipt.Reason(receipt.CheckParts), Message: "payload.age: sha256 differs from the signed statement"}
		p.Checks = []receipt.Check{{Name: receipt.CheckParts, Result: receipt.Fail, Detail: "payload.age: sha256 differs"}}
	})
	c.next(under(pol), refusedUnapproved)
	c.next(under(pol))
	o := goldenOptions(t)
	o.Dir = dir
	o.Keys = append(o.Keys, north.Public())
	return runAudit(t, o)
}

// pageWords are the words of a page's text: runs of letters (with inner
// hyphens and apostrophes), not digests, paths or numbers.
func pageWords(page []byte) map[string]bool {
	text := regexp.MustCompile(`(?s)<style.*?</style>|<[^>]*>`).ReplaceAllString(string(page), " ")
	words := map[string]bool{}
	for _, w := range wordRE.FindAllString(stdhtml.UnescapeString(text), -1) {
		words[w] = true
	}
	return words
}

var wordRE = regexp.MustCompile(`\p{L}[\p{L}'’-]*\p{L}`)

// splitWords finds words broken across two lines of the printed text: a
// line ending with a fragment and the next beginning with the rest, where
// the whole is a word of the page and a part is not. A break after a
// hyphen or a slash is a line break, not a split.
func splitWords(text string, words map[string]bool) []string {
	lines := strings.Split(text, "\n")
	var out []string
	for i := 0; i+1 < len(lines); i++ {
		a, b := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		x := a[len(a)-1]
		y := strings.TrimRight(b[0], ".,;:)]")
		if strings.HasPrefix(x, "--") && (x == "--" || strings.HasSuffix(x, "-")) {
			out = append(out, x+"/"+y) // a command-line option broken at a hyphen
			continue
		}
		if !wordRE.MatchString(x) || wordRE.FindString(x) != x || strings.HasSuffix(x, "-") {
			continue
		}
		if words[x+y] && (!words[x] || !words[y]) {
			out = append(out, x+"/"+y)
		}
	}
	return out
}

// TestAuditHTMLScales: beyond HTMLDetailLimit entries the page sums up
// unflagged runs and keeps flagged entries, so its size stops growing with
// the clean entries.
func TestAuditHTMLScales(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2,500 receipts")
	}
	dir := t.TempDir()
	writeBenchFolder(t, dir, 2500)
	r := runAudit(t, benchOptions(t, dir))
	page := string(renderHTML(t, r))
	if n := strings.Count(page, `class="apply `); n >= r.Summary.Applies || n < HTMLDetailLimit {
		t.Errorf("%d entry rows for %d applies", n, r.Summary.Applies)
	}
	if n := strings.Count(page, `<tr class="details">`); n > 2*HTMLDetailLimit || n < HTMLDetailLimit {
		t.Errorf("%d entries with details", n)
	}
	if !strings.Contains(page, `<tr class="run"><td colspan="6">… `) || !strings.Contains(page, "unflagged entries of pci-east-01, seq ") {
		t.Error("no summed-up run of unflagged entries")
	}
	// Every flagged entry is on the page.
	for _, f := range r.Findings {
		if f.Kind == KindFailed && !strings.Contains(page, `id="r-`+f.Zone+`-`+f.Host+`-`+strconv.FormatUint(f.Seq, 10)+`"`) {
			t.Errorf("flagged %s#%d is not on the page", f.Zone, f.Seq)
		}
	}
}
