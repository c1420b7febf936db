package audit

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTemplate string

// htmlData is what the HTML template renders.
type htmlData struct {
	R        *Report
	Verdict  string
	Windowed bool
	Evidence []pciRow
	byFile   map[string][]Finding
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS,
// no scripts, no external resources (a Content-Security-Policy forbids
// loading any). It holds the summary, the findings, the per-zone timeline
// with each apply's steps, the ledger reconciliation and the PCI DSS
// evidence mapping.
func (r *Report) WriteHTML(w io.Writer) error {
	d := &htmlData{
		R:        r,
		Verdict:  r.Verdict(),
		Windowed: !r.Since.IsZero() || !r.Until.IsZero(),
		Evidence: r.evidenceRows(),
		byFile:   map[string][]Finding{},
	}
	for _, f := range r.Findings {
		if f.File != "" && f.Zone != "" && f.Kind != KindNeverApplied { // never-applied names a ledger file
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
		"findingsFor":   func(file string) []Finding { return d.byFile[file] },
		"duration":      duration,
		"join":          strings.Join,
		"add":           func(a, b int) int { return a + b },
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("html report template: %w", err)
	}
	if err := t.Execute(w, d); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

func duration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return "-"
	}
	return end.Sub(start).Round(time.Second).String()
}
