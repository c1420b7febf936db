package audit

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"airlock.dev/airlock/receipt"
)

//go:embed report.html.tmpl
var reportTemplate string

// HTMLDetailLimit is how many entries the HTML report shows in full
// (a row and its details: steps, failed steps' output, digests) before it
// shows only flagged entries and sums up each run of unflagged ones in one
// row; of the flagged ones beyond it, those with an error keep their
// details, up to as many again. So a report of 100,000 receipts stays
// usable; the JSON and JSONL outputs list every entry in full.
const HTMLDetailLimit = 1000

// htmlData is what the HTML template renders.
type htmlData struct {
	R        *Report
	Verdict  string
	Windowed bool
	Digest   string
	Header   template.CSS // the running header of printed pages, a CSS string
	Period   string
	Limit    int
	byFile   map[string][]Finding
	shown    int   // entries shown so far
	detailed int   // flagged entries beyond the limit shown with details
	err      error // the first error reading entries again
}

// htmlRow is one row of a zone's table: an entry (with its details, or
// not), or a run of unflagged entries summed up.
type htmlRow struct {
	A        *Apply
	Details  bool
	Findings []Finding
	Run      *runRow
}

// runRow sums up consecutive unflagged entries.
type runRow struct {
	Host              string
	N                 int
	FirstSeq, LastSeq uint64
	First, Last       time.Time
	Outcomes          Outcomes
	Controls          int
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS,
// no scripts, no external resources (a Content-Security-Policy forbids
// loading any). It holds the summary (airlock version, options, full head
// digests), the findings, an SVG timeline and a table of each zone's
// entries (failed steps with the end of their masked output), the ledger
// reconciliation and the PCI DSS evidence map. Printed, every section is
// expanded, columns wrap instead of being cut, and each page carries a
// header with the zones, the period and the report's digest.
func (r *Report) WriteHTML(w io.Writer) error {
	sum, err := r.Digest()
	if err != nil {
		return err
	}
	d := &htmlData{
		R:        r,
		Verdict:  r.Verdict(),
		Windowed: !r.Since.IsZero() || !r.Until.IsZero(),
		Digest:   sum,
		Period:   r.period(),
		Limit:    HTMLDetailLimit,
		byFile:   map[string][]Finding{},
	}
	var zones []string
	for _, z := range r.Zones {
		zones = append(zones, z.Name)
	}
	d.Header = cssString(fmt.Sprintf("airlock audit · zones %s · %s · report sha256 %s", orWord(clipList(zones, 4), "(none)"), d.Period, sum))
	for _, f := range r.Findings {
		if f.File != "" && f.Zone != "" && !f.namesLedgerFile() {
			d.byFile[f.File] = append(d.byFile[f.File], f)
		}
	}
	t, err := template.New("report").Funcs(template.FuncMap{
		"stamp":         stamp,
		"stampOpen":     stampOpen,
		"short":         short,
		"keyList":       keyList,
		"bundleVersion": bundleVersion,
		"channelSeq":    channelSeq,
		"operatorName":  operatorName,
		"duration":      duration,
		"join":          strings.Join,
		"add":           func(a, b int) int { return a + b },
		"rows":          d.rows,
		"timeline":      func(z Zone) template.HTML { return r.timeline(&z, d.byFile) },
		"clockText":     clockText,
		"isControl":     func(e receipt.Event) bool { return e.IsControl() },
		"signers":       func(b BundleRef) string { return signerList(b.Signers) },
		"ledgerRows":    ledgerRows,
		"firstApplies": func(a ApplyRefs) []ApplyRef {
			return ApplyRefs{recs: a.recs[:min(len(a.recs), 5)]}.List()
		},
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("html report template: %w", err)
	}
	if err := t.Execute(w, d); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	if d.err != nil {
		return fmt.Errorf("write html report: %w", d.err)
	}
	return nil
}

// cssString quotes s as a CSS string: every character other than letters,
// digits, space and a few safe marks is written as a CSS escape, so that
// nothing in s can end the string, the rule or the style element.
func cssString(s string) template.CSS {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" .,:-_#+()", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\%06x ", r) // the space ends the escape and is not shown
		}
	}
	b.WriteByte('"')
	return template.CSS(b.String())
}

// period is the report's time span: the window, or the first and last
// entries.
func (r *Report) period() string {
	if !r.Since.IsZero() || !r.Until.IsZero() {
		return "period " + stampOpen(r.Since) + " … " + stampOpen(r.Until)
	}
	var first, last time.Time
	for _, z := range r.Zones {
		if first.IsZero() || (!z.FirstStarted.IsZero() && z.FirstStarted.Before(first)) {
			first = z.FirstStarted
		}
		if z.LastStarted.After(last) {
			last = z.LastStarted
		}
	}
	return "period " + stamp(first) + " … " + stamp(last)
}

// rows yields a zone's table rows: entries in full up to HTMLDetailLimit
// and flagged ones, runs of the others.
func (d *htmlData) rows(z Zone) iter.Seq[htmlRow] {
	return func(yield func(htmlRow) bool) {
		var run *runRow
		flush := func() bool {
			if run == nil {
				return true
			}
			r := run
			run = nil
			return yield(htmlRow{Run: r})
		}
		for _, rec := range z.order {
			if d.err != nil || !d.R.inWindow(rec) {
				continue
			}
			fs := d.byFile[rec.file]
			if d.shown >= HTMLDetailLimit && len(fs) == 0 {
				if run != nil && run.Host != rec.chain && !flush() { // a run stays within one host's chain
					return
				}
				if run == nil {
					run = &runRow{Host: rec.chain, FirstSeq: rec.seq, First: rec.started()}
				}
				run.N++
				run.LastSeq, run.Last = rec.seq, rec.started()
				if rec.isApply() {
					run.Outcomes.add(rec.result)
				} else {
					run.Controls++
				}
				continue
			}
			if !flush() {
				return
			}
			a, err := d.R.entry(rec)
			if err != nil {
				d.err = err
				return
			}
			details := d.shown < HTMLDetailLimit
			if !details && a.Flag == SeverityError && d.detailed < HTMLDetailLimit {
				details = true
				d.detailed++
			}
			d.shown++
			if !yield(htmlRow{A: a, Details: details, Findings: fs}) {
				return
			}
		}
		flush()
	}
}

// ledgerRow is a row of the ledger table: a bundle, or a count of
// bundles not shown.
type ledgerRow struct {
	B      *LedgerBundle
	Hidden int
}

// ledgerRows are the ledger table's rows: every bundle up to
// HTMLDetailLimit, then only those not applied everywhere they target
// (attempted, never applied), the rest counted in one row.
func ledgerRows(l *Ledger) []ledgerRow {
	var rows []ledgerRow
	hidden := 0
	for i := range l.Bundles {
		b := &l.Bundles[i]
		if i >= HTMLDetailLimit && b.Status == StatusApplied {
			hidden++
			continue
		}
		rows = append(rows, ledgerRow{B: b})
	}
	if hidden > 0 {
		rows = append(rows, ledgerRow{Hidden: hidden})
	}
	return rows
}

func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return "-"
	}
	return end.Sub(start).Round(time.Second).String()
}

// clockText describes a recorded clock state.
func clockText(c *receipt.Clock) string {
	if c == nil {
		return "clock state not recorded"
	}
	s := "synchronised"
	if !c.Synchronised {
		s = "UNSYNCHRONISED"
	}
	s += fmt.Sprintf(", est. error %d µs, max %d µs", c.EstimatedErrorMicros, c.MaxErrorMicros)
	if c.Service != "" {
		s += ", " + c.Service
	}
	return s
}

func signerList(ss []receipt.Signer) string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Role+" "+signerLabel(s))
	}
	return strings.Join(out, ", ")
}

// Timeline geometry, in SVG user units.
const (
	tlWidth   = 960
	tlLeft    = 120 // lane labels
	tlLane    = 22
	tlTop     = 18
	tlBuckets = 240 // time buckets: at most this many marks per lane
)

// outcomeColour is the fill of a timeline mark, worst outcome first.
var outcomeColour = []struct {
	result receipt.OutcomeResult
	fill   string
}{
	{receipt.Failed, "#cf222e"}, {receipt.RolledBack, "#fb8f44"}, {receipt.Refused, "#d4a72c"},
	{receipt.Applied, "#2da44e"}, {receipt.AlreadyApplied, "#8c959f"}, {receipt.Recorded, "#0969da"},
}

func colourRank(result receipt.OutcomeResult) int {
	i := slices.IndexFunc(outcomeColour, func(c struct {
		result receipt.OutcomeResult
		fill   string
	}) bool {
		return c.result == result
	})
	if i < 0 {
		return len(outcomeColour)
	}
	return i
}

// timeline draws a zone's entries in the window over time as an inline
// SVG: one lane per host, each mark a time bucket coloured by the worst
// outcome in it (control changes in blue), and a red mark above where the
// chain has a gap, fork, reordering, restart or truncation.
func (r *Report) timeline(z *Zone, byFile map[string][]Finding) template.HTML {
	var recs []*record
	for _, rec := range z.order {
		if r.inWindow(rec) {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return ""
	}
	lanes := []string{}
	for _, rec := range recs {
		if !slices.Contains(lanes, rec.chain) {
			lanes = append(lanes, rec.chain)
		}
	}
	slices.Sort(lanes)
	first, last := recs[0].started(), recs[0].started()
	for _, rec := range recs {
		if rec.started().Before(first) {
			first = rec.started()
		}
		if rec.started().After(last) {
			last = rec.started()
		}
	}
	span := last.Sub(first)
	if span <= 0 {
		span = time.Minute
	}
	plot := float64(tlWidth - tlLeft - 10)
	bucketOf := func(t time.Time) int {
		return min(int(float64(t.Sub(first))/float64(span)*float64(tlBuckets)), tlBuckets-1)
	}
	type mark struct {
		rank, n int
		result  receipt.OutcomeResult
	}
	marks := make([]map[int]*mark, len(lanes))
	for i := range marks {
		marks[i] = map[int]*mark{}
	}
	breaks := map[int][]string{}
	for _, rec := range recs {
		lane := slices.Index(lanes, rec.chain)
		b := bucketOf(rec.started())
		m := marks[lane][b]
		if m == nil {
			m = &mark{rank: len(outcomeColour) + 1}
			marks[lane][b] = m
		}
		m.n++
		if rk := colourRank(rec.result); rk < m.rank {
			m.rank, m.result = rk, rec.result
		}
		for _, f := range byFile[rec.file] {
			switch f.Kind {
			case KindGap, KindFork, KindReorder, KindRestart, KindTruncated, KindPolicyUncommitted:
				breaks[b] = append(breaks[b], fmt.Sprintf("%s at seq %d", f.Kind, rec.seq))
			}
		}
	}
	height := tlTop + len(lanes)*tlLane + 26
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" role="img" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet">`, tlWidth, height)
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(fmt.Sprintf("zone %s: %s from %s to %s", z.Name, plural(len(recs), "entry", "entries"), stamp(first), stamp(last))))
	x := func(bucket int) float64 { return tlLeft + (float64(bucket)+0.5)*plot/tlBuckets }
	w := max(plot/tlBuckets-1, 2)
	for i, lane := range lanes {
		y := tlTop + i*tlLane
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, tlLeft-6, y+14, html.EscapeString(orWord(lane, "(no host)")))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d7de"/>`, tlLeft, y+10, tlWidth-10, y+10)
		for _, bucket := range slices.Sorted(maps.Keys(marks[i])) {
			m := marks[i][bucket]
			fill := "#57606a"
			if m.rank < len(outcomeColour) {
				fill = outcomeColour[m.rank].fill
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="16" fill="%s"><title>%s</title></rect>`,
				x(bucket)-w/2, y+2, w, fill, html.EscapeString(fmt.Sprintf("%s: worst outcome %s", plural(m.n, "entry", "entries"), m.result)))
		}
	}
	for _, bucket := range slices.Sorted(maps.Keys(breaks)) {
		fmt.Fprintf(&b, `<path d="M%.1f %d l-5 -8 h10 z" fill="#cf222e"><title>%s</title></path>`, x(bucket), tlTop, html.EscapeString(strings.Join(breaks[bucket], "; ")))
	}
	yAxis := tlTop + len(lanes)*tlLane + 14
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text>`, tlLeft, yAxis, stamp(first))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, tlWidth-10, yAxis, stamp(last))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
