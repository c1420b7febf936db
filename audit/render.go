package audit

import (
	"bufio"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"airlock.dev/airlock/internal/printable"
)

// WriteJSON writes the report as indented JSON with a trailing newline.
// It streams: the encoding is written as it is made, never held whole (the
// JSON of 10,000 receipts is about 25 MiB).
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := jsonv2.MarshalWrite(bw, r, json.DefaultOptionsV1(), jsontext.WithIndent("  "), jsontext.EscapeForHTML(false))
	if err == nil {
		err = bw.WriteByte('\n')
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

// WriteTable writes the report for a person at a terminal: the entries in
// chain order, the ledger, the findings, the PCI DSS map, then a per-zone
// summary and the verdict last, where the eye lands.
func (r *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	r.tableApplies(ew)
	if r.Ledger != nil {
		r.tableLedger(ew)
	}
	r.tableFindings(ew)
	r.tableEvidence(ew)
	r.tableApplications(ew)
	r.tableZones(ew)
	fmt.Fprintln(ew, r.Verdict())
	if ew.err != nil {
		return fmt.Errorf("write table report: %w", ew.err)
	}
	return nil
}

// Verdict is the one-line result: "PASS …" or "FAIL …", the same in
// every output. A FAIL counts the findings that fail a gate and names the
// gates beyond "error" ("with --fail-on warning"); both say what else was
// found, what was acknowledged, and what the audit could not check.
func (r *Report) Verdict() string {
	s := r.Summary
	scope := fmt.Sprintf("%s in %s (%s)",
		plural(s.Receipts, "receipt", "receipts"), plural(s.Zones, "zone", "zones"), plural(s.Files, "file", "files"))
	var tail []string
	open := func(sev string) func(Finding) bool {
		return func(f Finding) bool { return f.Severity == sev && f.Gate == "" && f.Acknowledged == nil }
	}
	if n, p := countPhrase(r.Findings, open(SeverityWarning)); n > 0 {
		tail = append(tail, fmt.Sprintf("%s (%s)", plural(n, "warning", "warnings"), p))
	}
	if n, _ := countPhrase(r.Findings, open(SeverityInfo)); n > 0 {
		tail = append(tail, plural(n, "note", "notes"))
	}
	if n, p := countPhrase(r.Findings, func(f Finding) bool { return f.Acknowledged != nil }); n > 0 {
		tail = append(tail, fmt.Sprintf("%s acknowledged (%s)", plural(n, "finding", "findings"), p))
	}
	for _, what := range s.NotChecked {
		switch what {
		case "completeness":
			n := len(findingsOfKind(r.Findings, KindNoEarlierHead))
			tail = append(tail, fmt.Sprintf("completeness NOT CHECKED (no earlier head to compare for %s: audit with --state or --expect)", plural(n, "chain", "chains")))
		case "host-identity":
			n := len(findingsOfKind(r.Findings, KindHostUnchecked))
			tail = append(tail, fmt.Sprintf("host identity NOT CHECKED (%s of several hosts audited without its register: audit with --zone-register)", plural(n, "zone", "zones")))
		}
	}
	rest := ""
	if len(tail) > 0 {
		rest = "; " + strings.Join(tail, "; ")
	}
	if r.OK() {
		return fmt.Sprintf("PASS  %s verified, chains intact%s", scope, rest)
	}
	n, p, with := failing(r.Findings)
	return fmt.Sprintf("FAIL  %s (%s)%s in %s%s", plural(n, "problem", "problems"), p, with, scope, rest)
}

func findingsOfKind(fs []Finding, kind string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func (r *Report) tableApplies(w io.Writer) {
	title := "ENTRIES (chain order)"
	if !r.Since.IsZero() || !r.Until.IsZero() {
		title += fmt.Sprintf(", started %s … %s", stampOpen(r.Since), stampOpen(r.Until))
	}
	fmt.Fprintln(w, title)
	if r.Summary.Applies+r.Summary.ControlChanges == 0 {
		fmt.Fprintln(w, "(none)")
		fmt.Fprintln(w)
		return
	}
	header := []string{"ZONE", "HOST", "SEQ", "STARTED (UTC)", "BUNDLE", "CHANNEL #", "RESULT", "REASON", "PERSON", "APPROVED BY"}
	if r.Ledger != nil {
		header = append(header, "LEDGER")
	}
	aligned(w, header, func(emit func(...string)) {
		for _, z := range r.Zones {
			for _, rec := range z.order {
				if !r.inWindow(rec) {
					continue
				}
				what, chseq := cell(bundleVersion(rec.bundle.Name, rec.bundle.Version)), channelSeq(rec.bundle.Channel, rec.bundle.Sequence)
				if !rec.isApply() {
					what, chseq = "("+string(rec.event)+")", "-"
				}
				cells := []string{cell(z.Name), cell(rec.chain), strconv.FormatUint(rec.seq, 10), stamp(rec.started()), what, chseq,
					cell(string(rec.result)), cell(string(rec.reason)), cell(personCell(rec)), approverCell(rec.bundle)}
				if r.Ledger != nil {
					cells = append(cells, dash(rec.ledger))
				}
				emit(cells...)
			}
		}
	})
	fmt.Fprintln(w)
}

// personCell is who an entry is attributed to, for a table cell.
func personCell(rec *record) string {
	if rec.attributed {
		return personOf(rec)
	}
	return "UNATTRIBUTED " + operatorName(*rec.operator)
}

func (r *Report) tableLedger(w io.Writer) {
	l := r.Ledger
	checked := "signatures not checked: no --ledger-key"
	if l.SignaturesChecked {
		checked = "signatures checked"
	}
	fmt.Fprintf(w, "LEDGER %s (%s, %s; %s)\n", l.Dir, plural(l.Files, "file", "files"),
		plural(len(l.Bundles), "bundle", "bundles"), checked)
	if len(l.Bundles) == 0 {
		fmt.Fprintln(w, "(none)")
		fmt.Fprintln(w)
		return
	}
	aligned(w, []string{"BUNDLE", "CHANNEL #", "ISSUED", "EXPIRES", "STATUS", "HOSTS", "APPLIES"}, func(emit func(...string)) {
		for _, b := range l.Bundles {
			var hosts, applies []string
			for _, h := range b.Hosts {
				hosts = append(hosts, fmt.Sprintf("%s/%s %s", h.Zone, h.Host, h.Result))
			}
			for _, a := range b.Applies.recs {
				applies = append(applies, fmt.Sprintf("%s/%s#%d %s", a.zone, a.chain, a.seq, a.result))
			}
			emit(cell(bundleVersion(b.Name, b.Version)), channelSeq(b.Channel, b.Sequence),
				day(b.IssuedAt), day(b.Expires), b.Status, dash(cell(strings.Join(hosts, ", "))), dash(cell(strings.Join(applies, ", "))))
		}
	})
	for _, b := range l.Bundles {
		if len(b.ImagesNotPushed) > 0 {
			fmt.Fprintf(w, "images of %s that no host pushed: %s\n", cell(bundleVersion(b.Name, b.Version)), cell(strings.Join(b.ImagesNotPushed, ", ")))
		}
	}
	fmt.Fprintln(w)
}

func (r *Report) tableFindings(w io.Writer) {
	fmt.Fprintln(w, "FINDINGS")
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "(none)")
		fmt.Fprintln(w)
		return
	}
	aligned(w, []string{"ID", "SEVERITY", "GATE", "FILE", "MESSAGE"}, func(emit func(...string)) {
		for _, f := range r.Findings {
			gate := "-"
			switch {
			case f.Acknowledged != nil:
				gate = "ACKNOWLEDGED"
			case f.Gate != "":
				gate = "FAILS " + f.Gate
			}
			emit(f.ID, f.Severity, gate, dash(cell(f.File)), cell(findingMessage(f)))
		}
	})
	fmt.Fprintln(w)
}

func (r *Report) tableEvidence(w io.Writer) {
	fmt.Fprintln(w, "PCI DSS EVIDENCE")
	aligned(w, []string{"REQUIREMENT", "STATUS", "EVIDENCE", "STILL TO OBTAIN ELSEWHERE"}, func(emit func(...string)) {
		for _, e := range r.Evidence {
			emit(e.Req, e.Status, cell(e.Evidence), dash(e.Ask))
		}
	})
	fmt.Fprintln(w)
}

// tableApplications writes a row per application and host: the version
// the host runs, its last attempt, the outcomes and findings there.
func (r *Report) tableApplications(w io.Writer) {
	n := 0
	for _, z := range r.Zones {
		n += len(z.Applications)
	}
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "APPLICATIONS (by release name, a row per host)")
	i := func(i int) string { return strconv.Itoa(i) }
	aligned(w, []string{"ZONE", "APPLICATION", "HOST", "CURRENT", "LAST", "LAST STARTED", "APPLIED", "ALREADY", "REFUSED", "FAILED", "ROLLED BACK", "FINDINGS"},
		func(emit func(...string)) {
			for _, z := range r.Zones {
				for _, app := range z.Applications {
					for _, h := range app.Hosts {
						o := h.Outcomes
						emit(cell(z.Name), cell(app.Name), cell(h.Host), dash(cell(h.Current)), fmt.Sprintf("%s (seq %d)", h.Last, h.LastSeq), stamp(h.LastStarted),
							i(o.Applied), i(o.AlreadyApplied), i(o.Refused), i(o.Failed), i(o.RolledBack), i(h.Findings))
					}
				}
			}
		})
	fmt.Fprintln(w)
}

func (r *Report) tableZones(w io.Writer) {
	fmt.Fprintln(w, "ZONES (a chain per host)")
	if len(r.Zones) == 0 {
		fmt.Fprintln(w, "(no verified receipts)")
		fmt.Fprintln(w)
		return
	}
	n := func(i int) string { return strconv.Itoa(i) }
	aligned(w, []string{"ZONE", "HOST", "ROLES", "RECEIPTS", "SEQ", "FIRST STARTED", "LAST STARTED", "APPLIED", "ALREADY", "REFUSED", "FAILED", "ROLLED BACK", "CONTROL", "CHAIN", "HEAD SHA256"},
		func(emit func(...string)) {
			for _, z := range r.Zones {
				for _, c := range z.Chains {
					chain := "ok"
					if !c.ChainOK {
						chain = "BROKEN"
					}
					o := c.Outcomes
					emit(cell(z.Name), cell(c.Host), dash(cell(strings.Join(c.Roles, ","))), n(c.Receipts), fmt.Sprintf("%d–%d", c.FirstSeq, c.LastSeq), stamp(c.FirstStarted), stamp(c.LastStarted),
						n(o.Applied), n(o.AlreadyApplied), n(o.Refused), n(o.Failed), n(o.RolledBack), n(c.ControlChanges), chain, c.HeadSHA256)
				}
				for _, h := range z.MissingHosts {
					emit(cell(z.Name), cell(h), "-", "0", "-", "-", "-", "-", "-", "-", "-", "-", "-", "MISSING", "-")
				}
			}
		})
	fmt.Fprintln(w)
}

// aligned writes a table in columns, as text/tabwriter would with two
// spaces of padding (the last column unpadded), without holding the table:
// rows is called twice — to measure the columns, then to write them — and
// calls emit once per row, with as many cells as the header has.
func aligned(w io.Writer, header []string, rows func(emit func(...string))) {
	widths := make([]int, len(header))
	measure := func(cells ...string) {
		for i, c := range cells[:len(cells)-1] {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	measure(header...)
	rows(measure)
	bw := bufio.NewWriter(w)
	write := func(cells ...string) {
		for i, c := range cells {
			bw.WriteString(c)
			if i < len(cells)-1 {
				bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		bw.WriteByte('\n')
	}
	write(header...)
	rows(write)
	bw.Flush()
}

// errWriter remembers the first write error so renderers can write freely.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, nil
}

// cell makes text safe for one table cell: no tabs, newlines or control
// characters (a signed receipt can still carry odd text).
func cell(s string) string {
	return printable.String(s) // control characters would break the columns or the screen
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func channelSeq(channel string, seq uint64) string {
	if channel == "" && seq == 0 {
		return "-"
	}
	return fmt.Sprintf("%s #%d", cell(channel), seq)
}

// shortKey abbreviates a key ID "SHA256:<base64>" to its first 8 base64
// characters, enough to tell keys apart at a glance.
func shortKey(id string) string {
	if rest, ok := strings.CutPrefix(id, "SHA256:"); ok && len(rest) > 8 {
		return "SHA256:" + rest[:8]
	}
	return id
}

func keyList(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = cell(shortKey(id))
	}
	return strings.Join(out, ",")
}

func day(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateOnly)
}

func stampOpen(t time.Time) string {
	if t.IsZero() {
		return "(open)"
	}
	return stamp(t)
}

// approverCell names a bundle's approvers: the person trust.yaml names for
// each key, with the key.
func approverCell(b *BundleRef) string {
	names := b.ApproverNames()
	if len(names) == 0 {
		return "-"
	}
	return cell(strings.Join(names, ", "))
}
