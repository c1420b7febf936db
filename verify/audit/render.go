package audit

import (
	"bufio"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

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

// WriteTable writes the report for a person at a terminal: the applies in
// chain order, the ledger, the findings, then a per-zone summary and the
// verdict last, where the eye lands.
func (r *Report) WriteTable(w io.Writer) error {
	ew := &errWriter{w: w}
	r.tableApplies(ew)
	if r.Ledger != nil {
		r.tableLedger(ew)
	}
	r.tableFindings(ew)
	r.tableZones(ew)
	fmt.Fprintln(ew, r.Verdict())
	if ew.err != nil {
		return fmt.Errorf("write table report: %w", ew.err)
	}
	return nil
}

// Verdict is the one-line result: "PASS …" or "FAIL …".
func (r *Report) Verdict() string {
	s := r.Summary
	scope := fmt.Sprintf("%s in %s (%s)",
		plural(s.Receipts, "receipt", "receipts"), plural(s.Zones, "zone", "zones"), plural(s.Files, "file", "files"))
	var tail []string
	if n, p := countPhrase(r.Findings, SeverityWarning); n > 0 {
		tail = append(tail, fmt.Sprintf("%s (%s)", plural(n, "warning", "warnings"), p))
	}
	if s.Infos > 0 {
		tail = append(tail, plural(s.Infos, "note", "notes"))
	}
	rest := ""
	if len(tail) > 0 {
		rest = "; " + strings.Join(tail, "; ")
	}
	if r.OK() {
		return fmt.Sprintf("PASS  %s verified, chains intact%s", scope, rest)
	}
	n, p := countPhrase(r.Findings, SeverityError)
	return fmt.Sprintf("FAIL  %s (%s) in %s%s", plural(n, "problem", "problems"), p, scope, rest)
}

func (r *Report) tableApplies(w io.Writer) {
	title := "APPLIES (chain order)"
	if !r.Since.IsZero() || !r.Until.IsZero() {
		title += fmt.Sprintf(", started %s … %s", stampOpen(r.Since), stampOpen(r.Until))
	}
	fmt.Fprintln(w, title)
	if r.Summary.Applies == 0 {
		fmt.Fprintln(w, "(none)")
		fmt.Fprintln(w)
		return
	}
	tw := newTab(w)
	cols := "ZONE\tSEQ\tSTARTED (UTC)\tBUNDLE\tCHANNEL #\tRESULT\tREASON\tOPERATOR\tAPPROVED BY"
	if r.Ledger != nil {
		cols += "\tLEDGER"
	}
	fmt.Fprintln(tw, cols)
	for _, z := range r.Zones {
		for _, a := range z.Applies {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", cell(z.Name), a.Seq, stamp(a.Started),
				cell(bundleVersion(a.Bundle.Name, a.Bundle.Version)), channelSeq(a.Bundle.Channel, a.Bundle.Sequence),
				cell(string(a.Result)), cell(string(a.Reason)), cell(operatorName(a.Operator)), keyList(a.Bundle.Approvers()))
			if r.Ledger != nil {
				fmt.Fprintf(tw, "\t%s", a.Ledger)
			}
			fmt.Fprintln(tw)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
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
	tw := newTab(w)
	fmt.Fprintln(tw, "BUNDLE\tCHANNEL #\tISSUED\tEXPIRES\tSTATUS\tAPPLIES")
	for _, b := range l.Bundles {
		var applies []string
		for _, a := range b.Applies {
			applies = append(applies, fmt.Sprintf("%s#%d %s", a.Zone, a.Seq, a.Result))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cell(bundleVersion(b.Name, b.Version)), channelSeq(b.Channel, b.Sequence),
			day(b.IssuedAt), day(b.Expires), b.Status, cell(strings.Join(applies, ", ")))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func (r *Report) tableFindings(w io.Writer) {
	fmt.Fprintln(w, "FINDINGS")
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "(none)")
		fmt.Fprintln(w)
		return
	}
	tw := newTab(w)
	fmt.Fprintln(tw, "SEVERITY\tKIND\tZONE\tSEQ\tFILE\tMESSAGE")
	for _, f := range r.Findings {
		seq := "-"
		if f.Seq != 0 {
			seq = fmt.Sprint(f.Seq)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Kind, dash(cell(f.Zone)), seq, dash(cell(f.File)), cell(f.Message))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func (r *Report) tableZones(w io.Writer) {
	fmt.Fprintln(w, "ZONES")
	if len(r.Zones) == 0 {
		fmt.Fprintln(w, "(no verified receipts)")
		fmt.Fprintln(w)
		return
	}
	tw := newTab(w)
	fmt.Fprintln(tw, "ZONE\tRECEIPTS\tSEQ\tFIRST STARTED\tLAST STARTED\tAPPLIED\tALREADY\tREFUSED\tFAILED\tROLLED BACK\tCHAIN")
	for _, z := range r.Zones {
		chain := "ok"
		if !z.ChainOK {
			chain = "BROKEN"
		}
		o := z.Outcomes
		fmt.Fprintf(tw, "%s\t%d\t%d–%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", cell(z.Name), z.Receipts, z.FirstSeq, z.LastSeq,
			stamp(z.FirstStarted), stamp(z.LastStarted), o.Applied, o.AlreadyApplied, o.Refused, o.Failed, o.RolledBack, chain)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

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
