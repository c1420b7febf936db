package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"airlock.dev/airlock/receipt"
)

// EventFormatVersion is the version of the JSON lines written by
// [Report.WriteJSONL] (doc/schemas/audit-event.schema.json).
const EventFormatVersion = 1

// Event is one line of the JSONL output, for a SIEM: the audit itself
// (type "audit", first), one line per receipt in the window (type
// "receipt", in zone and chain order) and one per finding (type "finding",
// in report order). Every line has a type, a time, a severity and a kind.
type Event struct {
	FormatVersion int    `json:"formatVersion"`
	Type          string `json:"type"` // audit | receipt | finding
	// Time is when the event happened: the receipt's start, the start of
	// the receipt a finding is about, or the audit's time.
	Time time.Time `json:"time"`
	// Severity is a finding's severity; for a receipt, the highest severity
	// of the findings about it, or "none"; for the audit, "error" when it
	// failed (a finding failed a gate), else "none".
	Severity string `json:"severity"`
	// Kind is a finding's kind; for a receipt, its event (apply, genesis,
	// policy); for the audit, "audit".
	Kind string `json:"kind"`
	// ID is a finding's ID; Gate the gate it fails ("" when none) and
	// Acknowledged whether the audit state acknowledges it.
	ID           string `json:"id,omitempty"`
	Gate         string `json:"gate,omitempty"`
	Acknowledged bool   `json:"acknowledged,omitempty"`
	Zone         string `json:"zone,omitempty"`
	Host         string `json:"host,omitempty"`
	Seq          uint64 `json:"seq,omitempty"`
	File         string `json:"file,omitempty"`
	Message      string `json:"message,omitempty"`

	// Receipts.
	Outcome        receipt.OutcomeResult `json:"outcome,omitempty"`
	Reason         receipt.Reason        `json:"reason,omitempty"`
	Bundle         string                `json:"bundle,omitempty"`
	BundleVersion  string                `json:"bundleVersion,omitempty"`
	Channel        string                `json:"channel,omitempty"`
	BundleSequence uint64                `json:"bundleSequence,omitempty"`
	Account        string                `json:"account,omitempty"` // OS account and uid
	Person         string                `json:"person,omitempty"`
	Attributed     *bool                 `json:"attributed,omitempty"`
	Clock          string                `json:"clock,omitempty"` // synchronised | unsynchronised | unknown
	SHA256         string                `json:"sha256,omitempty"`

	// The audit.
	Verdict  string   `json:"verdict,omitempty"`
	Receipts int      `json:"receipts,omitempty"`
	Errors   int      `json:"errors,omitempty"`
	Warnings int      `json:"warnings,omitempty"`
	Failing  int      `json:"failing,omitempty"`
	Airlock  string   `json:"airlock,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// WriteJSONL writes the report as JSON lines (one object per line): the
// audit, then every receipt in the window, then every finding. It keeps
// nothing but the line being written.
func (r *Report) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	sev := "none"
	if !r.OK() {
		sev = SeverityError
	}
	err := enc.Encode(Event{FormatVersion: EventFormatVersion, Type: "audit", Time: r.GeneratedAt, Severity: sev, Kind: "audit",
		Message: r.Verdict(), Verdict: verdictWord(r), Receipts: r.Summary.Receipts, Errors: r.Summary.Errors, Warnings: r.Summary.Warnings, Failing: r.Summary.Failing,
		Airlock: r.Airlock, Options: r.Options})
	named := map[string]*record{} // the receipts findings name
	for _, f := range r.Findings {
		if f.File != "" {
			named[f.File] = nil
		}
	}
	for _, z := range r.Zones {
		for _, rec := range z.order {
			if _, ok := named[rec.file]; ok {
				named[rec.file] = rec
			}
			if err != nil || !r.inWindow(rec) {
				continue
			}
			attributed := rec.attributed
			e := Event{FormatVersion: EventFormatVersion, Type: "receipt", Time: rec.started(), Severity: orWord(r.flagged[rec.file], "none"),
				Kind: string(rec.event), Zone: rec.zone, Host: rec.chain, Seq: rec.seq, File: rec.file,
				Outcome: rec.result, Reason: rec.reason, Account: fmt.Sprintf("%s (uid %s)", rec.operator.User, rec.operator.UID),
				Person: personCell(rec), Attributed: &attributed, Clock: clockWord(rec.clock), SHA256: rec.link.String()}
			if rec.isApply() {
				b := rec.bundle
				e.Bundle, e.BundleVersion, e.Channel, e.BundleSequence = b.Name, b.Version, b.Channel, b.Sequence
			}
			err = enc.Encode(e)
		}
	}
	for _, f := range r.Findings {
		if err != nil {
			break
		}
		t, rec := r.GeneratedAt, named[f.File]
		if f.namesLedgerFile() {
			rec = nil
		}
		if rec != nil {
			t = rec.started()
		}
		e := Event{FormatVersion: EventFormatVersion, Type: "finding", Time: t, Severity: f.Severity, Kind: f.Kind,
			ID: f.ID, Gate: f.Gate, Acknowledged: f.Acknowledged != nil,
			Zone: f.Zone, Host: f.Host, Seq: f.Seq, File: f.File, Message: findingMessage(f)}
		if app := applicationOf(rec); app != "" { // the application it is about
			e.Bundle, e.BundleVersion = app, rec.bundle.Version
		}
		err = enc.Encode(e)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("write jsonl report: %w", err)
	}
	return nil
}

// findingMessage is a finding's message with its acknowledgement, if it
// has one.
func findingMessage(f Finding) string {
	if k := f.Acknowledged; k != nil {
		return f.Message + " [acknowledged " + stamp(k.At) + ": " + k.Note + "]"
	}
	return f.Message
}

func verdictWord(r *Report) string {
	if r.OK() {
		return "PASS"
	}
	return "FAIL"
}

func orWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}

func clockWord(c uint8) string {
	switch c {
	case clockSynced:
		return "synchronised"
	case clockUnsynced:
		return "unsynchronised"
	}
	return "unknown"
}
