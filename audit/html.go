package audit

import (
	_ "embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"iter"
	"maps"
	"regexp"
	"slices"
	"strconv"
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
	Word     string // PASS or FAIL
	Windowed bool
	Digest   string
	// The running header and footer of printed pages, CSS strings: the
	// version and verdict, the zones and period, the report's digest.
	HeaderLeft, HeaderRight, FooterLeft template.CSS
	Legend                              []markClass
	Period                              string
	Limit                               int
	byFile                              map[string][]Finding
	shown                               int   // entries shown so far
	detailed                            int   // flagged entries beyond the limit shown with details
	err                                 error // the first error reading entries again
}

// htmlRow is one row of a zone's table: an entry (with its details, or
// not), or a run of unflagged entries summed up.
type htmlRow struct {
	A         *Apply
	Details   bool
	Tampering bool // a refusal as a tampering attempt
	Findings  []Finding
	Run       *runRow
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
		Word:     verdictWord(r),
		Windowed: !r.Since.IsZero() || !r.Until.IsZero(),
		Digest:   sum,
		Period:   r.period(),
		Limit:    HTMLDetailLimit,
		Legend:   markClasses,
		byFile:   map[string][]Finding{},
	}
	var zones []string
	for _, z := range r.Zones {
		zones = append(zones, z.Name)
	}
	d.HeaderLeft = cssString(fmt.Sprintf("airlock audit report · airlock %s · %s", orWord(r.Airlock, "(version unknown)"), d.Word))
	d.HeaderRight = cssString(fmt.Sprintf("zones %s · period %s", orWord(clipList(zones, 4), "(none)"), d.Period))
	d.FooterLeft = cssString("report sha256 " + sum)
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
		"day":           day,
		"clock":         clockOf,
		"wbr":           wbrSlashes,
		"flags":         keepFlags,
		"scheme":        func(u string) string { _, rest, _ := strings.Cut(u, "://"); return rest },
		"outcomes":      outcomeSummary,
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
		return stampOpen(r.Since) + " … " + stampOpen(r.Until)
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
	return stamp(first) + " … " + stamp(last)
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
			if !yield(htmlRow{A: a, Details: details, Tampering: tampered(rec), Findings: fs}) {
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

// wbrSlashes escapes s for HTML and lets a line break after each slash:
// a finding ID (ZONE/HOST/SEQ/KIND) wraps at its parts, never inside a
// word.
func wbrSlashes(s string) template.HTML {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		if i < len(parts)-1 {
			p += "/"
		}
		parts[i] = `<span class="nowrap">` + html.EscapeString(p) + `</span>`
	}
	return template.HTML(strings.Join(parts, "<wbr>"))
}

// flagRE matches a command-line option in text: "--state", "--fail-on".
var flagRE = regexp.MustCompile(`--[a-z][a-z-]*[a-z]`)

// keepFlags escapes s for HTML with each command-line option in it kept
// on one line: a browser breaks a line after any hyphen, and "--" at the
// end of a line and "state" at the start of the next is no option.
func keepFlags(s string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range flagRE.FindAllStringIndex(s, -1) {
		b.WriteString(html.EscapeString(s[last:m[0]]))
		b.WriteString(`<span class="nowrap">` + html.EscapeString(s[m[0]:m[1]]) + `</span>`)
		last = m[1]
	}
	b.WriteString(html.EscapeString(s[last:]))
	return template.HTML(b.String())
}

// outcomeSummary counts outcomes and control changes in words.
func outcomeSummary(o Outcomes, controls int) string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{o.Applied, "applied"}, {o.AlreadyApplied, "already applied"}, {o.Refused, "refused"}, {o.Failed, "failed"}, {o.RolledBack, "rolled back"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if controls > 0 {
		parts = append(parts, plural(controls, "control change", "control changes"))
	}
	if len(parts) == 0 {
		return "none in the window"
	}
	return strings.Join(parts, ", ")
}

// clockOf is the time of day of t, UTC.
func clockOf(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05Z")
}

// markClass is a kind of timeline mark: what an entry was, worst first
// (a mark shows the worst of the entries it stands for).
type markClass struct {
	Label string // in the legend and the marks' labels
	Fill  string
	Shape string // rect, diamond or circle
	flag  bool   // labelled on the timeline with its seq
}

var markClasses = []markClass{
	{"refused: tampering", "#82071e", "diamond", true},
	{"failed", "#cf222e", "rect", true},
	{"rolled back", "#fb8f44", "rect", true},
	{"refused", "#d4a72c", "rect", true},
	{"applied", "#2da44e", "rect", false},
	{"already applied", "#8c959f", "rect", false},
	{"control change", "#0969da", "circle", false},
}

// classOf is the index in markClasses of an entry.
func classOf(rec *record) int {
	switch {
	case tampered(rec):
		return 0
	case rec.result == receipt.Failed:
		return 1
	case rec.result == receipt.RolledBack:
		return 2
	case rec.result == receipt.Refused:
		return 3
	case rec.result == receipt.Applied:
		return 4
	case rec.result == receipt.AlreadyApplied:
		return 5
	}
	return 6
}

// Timeline geometry, in SVG user units.
const (
	tlWidth   = 960
	tlLeft    = 130 // lane labels
	tlRight   = 20
	tlTop     = 34 // chain breaks above the lanes
	tlMark    = 14
	tlLane    = 50 // a mark and two rows of labels
	tlAxis    = 34
	tlBuckets = 160 // time buckets: at most this many marks per lane
	tlTicks   = 4   // intervals of the time axis
	tlCharW   = 6.2 // the width of a character of a label, about
)

// timeline draws a zone's entries in the window over time as an inline
// SVG: a lane per host, labelled with the host and its counts; each mark a
// time bucket, coloured and shaped by the worst entry in it (a tampering
// refusal a dark red diamond, unlike any other refusal); every failure
// and refusal labelled with its seq and what it was, on one of two rows
// under its lane (those that find no room are counted at the lane's end);
// a time axis with dated ticks; and a red mark with its label above where
// the chain has a gap, fork, reordering, restart, truncation or an
// uncommitted policy.
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
	plot := float64(tlWidth - tlLeft - tlRight)
	bucketOf := func(t time.Time) int {
		return min(int(float64(t.Sub(first))/float64(span)*float64(tlBuckets)), tlBuckets-1)
	}
	x := func(bucket int) float64 { return tlLeft + (float64(bucket)+0.5)*plot/tlBuckets }
	type mark struct {
		class, n int
		seqs     []uint64 // of the entries of the mark's class
	}
	marks := make([]map[int]*mark, len(lanes))
	counts := make([][]int, len(lanes))
	for i := range marks {
		marks[i], counts[i] = map[int]*mark{}, make([]int, len(markClasses))
	}
	type brk struct{ text []string }
	breaks := map[int]*brk{}
	for _, rec := range recs {
		lane := slices.Index(lanes, rec.chain)
		b := bucketOf(rec.started())
		m := marks[lane][b]
		if m == nil {
			m = &mark{class: len(markClasses)}
			marks[lane][b] = m
		}
		m.n++
		cl := classOf(rec)
		counts[lane][cl]++
		switch {
		case cl < m.class:
			m.class, m.seqs = cl, []uint64{rec.seq}
		case cl == m.class:
			m.seqs = append(m.seqs, rec.seq)
		}
		for _, f := range byFile[rec.file] {
			switch f.Kind {
			case KindGap, KindFork, KindReorder, KindRestart, KindTruncated, KindPolicyUncommitted, KindClockBackwards:
				if breaks[b] == nil {
					breaks[b] = &brk{}
				}
				breaks[b].text = append(breaks[b].text, fmt.Sprintf("%s #%d", f.Kind, rec.seq))
			}
		}
	}
	height := tlTop + len(lanes)*tlLane + tlAxis
	var b strings.Builder
	esc := html.EscapeString
	fmt.Fprintf(&b, `<svg class="timeline" role="img" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif">`, tlWidth, height)
	fmt.Fprintf(&b, `<title>%s</title>`, esc(fmt.Sprintf("zone %s: %s from %s to %s", z.Name, plural(len(recs), "entry", "entries"), stamp(first), stamp(last))))
	// The time axis: ticks with their dates, under the lanes, and faint
	// lines across them.
	axisY := tlTop + len(lanes)*tlLane
	for i := 0; i <= tlTicks; i++ {
		tx := tlLeft + float64(i)*plot/tlTicks
		at := first.Add(time.Duration(float64(span) * float64(i) / tlTicks))
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case tlTicks:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eaeef2"/>`, tx, tlTop-4, tx, axisY+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" text-anchor="%s" fill="#57606a">%s</text>`, tx, axisY+18, anchor, esc(tickLabel(at, span)))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#57606a">UTC</text>`, tlLeft-8, axisY+18)
	for i, lane := range lanes {
		y := tlTop + i*tlLane
		total := 0
		for _, n := range counts[i] {
			total += n
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-weight="600" text-anchor="end">%s</text>`, tlLeft-8, y+tlMark-2, esc(orWord(lane, "(no host)")))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#57606a">%s</text>`, tlLeft-8, y+tlMark+12, esc(plural(total, "entry", "entries")))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d7de"/>`, tlLeft, y+tlMark/2, tlWidth-tlRight, y+tlMark/2)
		w := max(plot/tlBuckets-1, 3)
		free := [2]float64{-1e9, -1e9} // where each label row is free again
		unlabelled := 0
		for _, bucket := range slices.Sorted(maps.Keys(marks[i])) {
			m := marks[i][bucket]
			mc := markClasses[min(m.class, len(markClasses)-1)]
			cx := x(bucket)
			tip := esc(fmt.Sprintf("%s: %s (seq %s)", plural(m.n, "entry", "entries"), mc.Label, seqList(m.seqs)))
			switch mc.Shape {
			case "diamond":
				fmt.Fprintf(&b, `<path d="M%.1f %d l7 7 l-7 7 l-7 -7 z" fill="%s"><title>%s</title></path>`, cx, y, mc.Fill, tip)
			case "circle":
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="5" fill="%s"><title>%s</title></circle>`, cx, y+tlMark/2, mc.Fill, tip)
			default:
				fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`, cx-w/2, y, w, tlMark, mc.Fill, tip)
			}
			if !mc.flag {
				continue
			}
			label := "#" + seqList(m.seqs) + " " + mc.Label
			width := float64(len(label)) * tlCharW
			from, anchor := cx, "start" // a label near the right end ends at its mark
			if cx+width > tlWidth-2 {
				from, anchor = cx-width, "end"
			}
			row := slices.IndexFunc(free[:], func(f float64) bool { return f <= from })
			if row < 0 {
				unlabelled++
				continue
			}
			free[row] = from + width + 8
			ly := y + tlMark + 14 + row*14
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, cx, y+tlMark, cx, ly-10, mc.Fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="%s" fill="%s">%s</text>`, cx, ly, anchor, mc.Fill, esc(label))
		}
		if unlabelled > 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#57606a">+%d unlabelled</text>`, tlLeft-8, y+tlMark+26, unlabelled)
		}
	}
	freeBreak := -1e9
	for _, bucket := range slices.Sorted(maps.Keys(breaks)) {
		cx := x(bucket)
		text := strings.Join(breaks[bucket].text, "; ")
		fmt.Fprintf(&b, `<path d="M%.1f %d l-6 -10 h12 z" fill="#cf222e"><title>%s</title></path>`, cx, tlTop-4, esc(text))
		width := float64(len(text)) * tlCharW
		tx, from, anchor := cx+8, cx+8, "start"
		if from+width > tlWidth-2 {
			tx, from, anchor = cx-8, cx-8-width, "end"
		}
		if from >= freeBreak {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="%s" fill="#cf222e">%s</text>`, tx, tlTop-8, anchor, esc(text))
			freeBreak = from + width + 8
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// tickLabel dates a tick of the time axis: the day, with the time of day
// when the axis spans less than a few days.
func tickLabel(t time.Time, span time.Duration) string {
	if span < 72*time.Hour {
		return t.UTC().Format("2006-01-02 15:04")
	}
	return t.UTC().Format(time.DateOnly)
}

// seqList names the seqs of a mark: "8", "3, 5" or "3, 5 +4".
func seqList(seqs []uint64) string {
	var parts []string
	for _, s := range seqs[:min(len(seqs), 2)] {
		parts = append(parts, strconv.FormatUint(s, 10))
	}
	out := strings.Join(parts, ", ")
	if len(seqs) > 2 {
		out += fmt.Sprintf(" +%d", len(seqs)-2)
	}
	return out
}
