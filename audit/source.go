package audit

import (
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"path/filepath"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/receipt"
)

// source reads a receipt again for a report, from the folder it was
// verified in: the bytes must have the digest they had then, so what is
// shown is what was verified.
type source struct {
	dir string
	mem map[string][]byte // tests: receipts not on disk
}

// ErrChanged is wrapped when a receipt changed between its verification
// and the report.
var ErrChanged = errors.New("a receipt changed while the audit ran")

func (s *source) read(rel string) ([]byte, error) {
	if data, ok := s.mem[rel]; ok {
		return data, nil
	}
	return capped.ReadFile(filepath.Join(s.dir, filepath.FromSlash(rel)), receipt.MaxSize)
}

// entry reads rec's receipt again and returns the report's view of it.
func (r *Report) entry(rec *record) (*Apply, error) {
	data, err := r.src.read(rec.file)
	if err != nil {
		return nil, fmt.Errorf("read %s again: %w", rec.file, err)
	}
	if sumOf(data) != rec.env {
		return nil, fmt.Errorf("%s: %w", rec.file, ErrChanged)
	}
	rc, err := receipt.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rec.file, err)
	}
	a := summarize(rec, rc.Predicate())
	a.Flag = r.flagged[rec.file]
	return a, nil
}

// summarize is the report's view of a receipt: bounded, free text clipped.
func summarize(rec *record, p *receipt.Predicate) *Apply {
	a := &Apply{
		File:         rec.file,
		Zone:         rec.zone,
		Host:         rec.host,
		Seq:          rec.seq,
		Event:        rec.event,
		ReceiptID:    clip(p.ReceiptID),
		SHA256:       rec.link.String(),
		PrevSHA256:   p.PrevSHA256,
		KeyID:        rec.keyID,
		Started:      rec.started(),
		Finished:     p.Time.Finished.UTC(),
		ClockSource:  clip(p.Time.Source),
		Clock:        p.Time.Clock,
		Applier:      clip(p.Applier.Version),
		Operator:     *rec.operator,
		Attributed:   rec.attributed,
		Person:       rec.person(),
		Bundle:       *rec.bundle,
		Result:       rec.result,
		Reason:       rec.reason,
		Message:      clip(p.Outcome.Message),
		Resumed:      p.Resumed,
		Overrides:    rec.extra().overrides,
		Ledger:       rec.ledger,
		Policy:       rec.policy,
		PolicyChange: rec.extra().change,
		Release:      p.Release,
		FilesTotal:   max(p.FilesTotal, len(p.Files)),
		FilesList:    rec.extra().filesList,
	}
	if a.Clock != nil {
		a.Clock.Service = clip(a.Clock.Service)
	}
	if a.Release != nil {
		a.Release.Previous, a.Release.Current = clip(a.Release.Previous), clip(a.Release.Current)
		if len(a.Release.Pruned) > MaxSteps {
			a.Release.Pruned = a.Release.Pruned[:MaxSteps]
		}
	}
	for _, c := range p.Checks {
		if c.Result == receipt.Fail && len(a.FailedChecks) < maxChecks {
			a.FailedChecks = append(a.FailedChecks, receipt.Check{Name: c.Name, Result: c.Result, Detail: clip(c.Detail)})
		}
	}
	a.Steps = make([]Step, 0, min(len(p.Steps), MaxSteps))
	for i, s := range p.Steps {
		if i >= MaxSteps {
			a.StepsOmitted = len(p.Steps) - MaxSteps
			break
		}
		st := Step{
			Name: clip(s.Name), Kind: s.Kind, When: s.When, Result: s.Result,
			ExitCode: s.ExitCode, Attempts: s.Attempts,
			Started: s.Started.UTC(), Finished: s.Finished.UTC(),
			Error: clip(s.Error),
		}
		if s.Result == receipt.StepFailed || s.Result == receipt.StepTimedOut {
			st.Tail = clipTail(s.Tail)
		}
		a.Steps = append(a.Steps, st)
	}
	return a
}

// clipTail keeps the end of a step's output tail (at most TailSize bytes,
// as the receipt does), at a rune boundary.
func clipTail(s string) string {
	if len(s) <= receipt.TailSize {
		return s
	}
	cut := len(s) - receipt.TailSize
	for cut < len(s) && (s[cut]&0xc0) == 0x80 {
		cut++
	}
	return "…" + s[cut:]
}

// entries calls fn with each entry of the zone in the window, in chain
// order, read again from the folder.
func (r *Report) entries(z *Zone, fn func(*record, *Apply) error) error {
	for _, rec := range z.order {
		if r.window != nil && !r.window(rec.started()) {
			continue
		}
		a, err := r.entry(rec)
		if err != nil {
			return err
		}
		if err := fn(rec, a); err != nil {
			return err
		}
	}
	return nil
}

// inWindow reports whether a record is within the report's window.
func (r *Report) inWindow(rec *record) bool { return r.window == nil || r.window(rec.started()) }

// entryList is a zone's entries in the JSON report, written as they are
// read again from the folder.
type entryList struct {
	r *Report
	z *Zone
}

// MarshalJSONTo streams the entries.
func (l entryList) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginArray); err != nil {
		return err
	}
	if l.r != nil {
		err := l.r.entries(l.z, func(_ *record, a *Apply) error {
			return jsonv2.MarshalEncode(enc, a)
		})
		if err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndArray)
}

// ZoneEntries reads the entries of a zone in the window, in chain order.
func (r *Report) ZoneEntries(name string) ([]Apply, error) {
	var out []Apply
	for i := range r.Zones {
		if r.Zones[i].Name != name {
			continue
		}
		err := r.entries(&r.Zones[i], func(_ *record, a *Apply) error {
			out = append(out, *a)
			return nil
		})
		return out, err
	}
	return nil, fmt.Errorf("no zone %s in the report", name)
}
