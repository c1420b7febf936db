package audit

import (
	"fmt"
	"slices"
	"strings"
)

// Gates: what fails an audit. Every error does, always; --fail-on adds
// warnings (FailOnWarning) or findings of named kinds (--fail-on
// policy-weakened,never-applied), of any severity. An acknowledged finding
// fails no gate: the auditor's signed acknowledgement in the audit state
// closed it, and every report still lists it, marked acknowledged.
const (
	FailOnError   = SeverityError
	FailOnWarning = SeverityWarning
)

// ParseFailOn reads --fail-on values: each "error", "warning" or a
// finding kind, or several of them separated by commas. The gates it
// returns always begin with "error", each once, in the order given.
func ParseFailOn(values []string) ([]string, error) {
	gates := []string{FailOnError}
	for _, v := range values {
		for g := range strings.SplitSeq(v, ",") {
			g = strings.TrimSpace(g)
			switch {
			case g == FailOnError || g == FailOnWarning:
			case g == "" || !slices.ContainsFunc(kinds, func(k kindInfo) bool { return k.kind == g }):
				return nil, fmt.Errorf("--fail-on %q: want error, warning or a finding kind (such as policy-weakened or never-applied; see airlock help audit)", g)
			}
			if !slices.Contains(gates, g) {
				gates = append(gates, g)
			}
		}
	}
	return gates, nil
}

// gateOf is the gate a finding fails, or "" when it fails none: its kind
// when gated by name, "error" for an error, "warning" for a warning under
// --fail-on warning; an acknowledged finding fails none.
func gateOf(f *Finding, gates []string) string {
	switch {
	case f.Acknowledged != nil:
		return ""
	case slices.Contains(gates, f.Kind):
		return f.Kind
	case f.Severity == SeverityError:
		return FailOnError
	case f.Severity == SeverityWarning && slices.Contains(gates, FailOnWarning):
		return FailOnWarning
	}
	return ""
}

// judge marks each finding with its acknowledgement (from the audit state)
// and the gate it fails, and counts them in the summary.
func (a *auditor) judge(fs []Finding, s *Summary) {
	acks := map[string]Acknowledgement{}
	if st := a.opts.State; st != nil {
		for _, k := range st.Acks {
			acks[k.ID] = k
		}
	}
	for i := range fs {
		f := &fs[i]
		if k, ok := acks[f.ID]; ok {
			f.Acknowledged = &k
			s.Acknowledged++
		}
		f.Gate = gateOf(f, a.gates())
		if f.Gate != "" {
			s.Failing++
		}
	}
	s.OK = s.Failing == 0
}

// gates are the audit's gates: "error" and those of --fail-on.
func (a *auditor) gates() []string {
	if len(a.opts.FailOn) == 0 {
		return []string{FailOnError}
	}
	return a.opts.FailOn
}

// failing renders the findings that fail the audit: their count, the
// counts by kind, and the gates beyond "error" that they fail
// ("with --fail-on warning").
func failing(fs []Finding) (n int, phrase, with string) {
	n, phrase = countPhrase(fs, func(f Finding) bool { return f.Gate != "" })
	var extra []string
	for _, f := range fs {
		if f.Gate != "" && f.Gate != FailOnError && !slices.Contains(extra, f.Gate) {
			extra = append(extra, f.Gate)
		}
	}
	if len(extra) > 0 {
		with = " with --fail-on " + strings.Join(extra, ",")
	}
	return n, phrase, with
}

// Err returns nil when the audit passed — no finding fails a gate — and
// otherwise an error that counts the failing findings by kind and names
// the gates beyond "error" they fail, such as
// "audit: 2 problems (1 gap, 1 tampered receipt)" or
// "audit: 1 problem (1 committed policy weakening) with --fail-on policy-weakened".
func (r *Report) Err() error {
	n, phrase, with := failing(r.Findings)
	if n == 0 {
		return nil
	}
	return &problemsError{msg: fmt.Sprintf("audit: %s (%s)%s", plural(n, "problem", "problems"), phrase, with)}
}
