package audit

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"airlock.dev/airlock/receipt"
)

// Application is one application of a zone — the releases of one name —
// as the audit reports it: on which hosts it is, which version each runs,
// what became of its applies, and how many findings are about its
// receipts. A zone runs many applications; an assessor reviews each.
type Application struct {
	Name string `json:"name"`
	// Hosts are the hosts that received a bundle of the application, by
	// host name.
	Hosts []ApplicationHost `json:"hosts"`
	// Outcomes counts its applies started within [Since, Until], on every
	// host.
	Outcomes Outcomes `json:"outcomes"`
	// Findings counts the findings about its receipts; Failing those of
	// them that fail a gate; Errors and Warnings those of that severity.
	Findings int `json:"findings"`
	Failing  int `json:"failing"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

// ApplicationHost is one application on one host.
type ApplicationHost struct {
	Host string `json:"host"`
	// Current is the version its newest applied (or already-applied)
	// receipt installed, and CurrentSeq that receipt's place in the
	// host's chain; empty when none of its applies succeeded. They cover
	// the whole chain, whatever the window.
	Current    string `json:"current,omitempty"`
	CurrentSeq uint64 `json:"currentSeq,omitempty"`
	// Last is the result of its newest apply attempt, LastSeq and
	// LastStarted where and when it was.
	Last        receipt.OutcomeResult `json:"last"`
	LastSeq     uint64                `json:"lastSeq"`
	LastStarted time.Time             `json:"lastStarted"`
	// Outcomes counts its applies on this host started within [Since,
	// Until]; Findings the findings about them.
	Outcomes Outcomes `json:"outcomes"`
	Findings int      `json:"findings"`
}

// applicationOf is the application a receipt is about: the name of the
// bundle an apply names; empty for control changes.
func applicationOf(r *record) string {
	if r == nil || !r.isApply() || r.bundle == nil {
		return ""
	}
	return r.bundle.Name
}

// applications summarises a zone's receipts by application.
func (a *auditor) applications(order []*record) []Application {
	type key struct{ app, host string }
	hosts := map[key]*ApplicationHost{}
	for _, r := range order {
		name := applicationOf(r)
		if name == "" {
			continue
		}
		h := hosts[key{name, r.chain}]
		if h == nil {
			h = &ApplicationHost{Host: r.chain}
			hosts[key{name, r.chain}] = h
		}
		if r.seq >= h.LastSeq {
			h.Last, h.LastSeq, h.LastStarted = r.result, r.seq, r.started()
		}
		if (r.result == receipt.Applied || r.result == receipt.AlreadyApplied) && r.seq >= h.CurrentSeq {
			h.Current, h.CurrentSeq = r.bundle.Version, r.seq
		}
		if a.opts.inWindow(r.started()) {
			h.Outcomes.add(r.result)
		}
	}
	byApp := map[string]*Application{}
	for _, k := range slices.SortedFunc(maps.Keys(hosts), func(x, y key) int {
		if x.app != y.app {
			return cmp.Compare(x.app, y.app)
		}
		return cmp.Compare(x.host, y.host)
	}) {
		app := byApp[k.app]
		if app == nil {
			app = &Application{Name: k.app, Hosts: []ApplicationHost{}}
			byApp[k.app] = app
		}
		h := hosts[k]
		app.Hosts = append(app.Hosts, *h)
		app.Outcomes.addAll(h.Outcomes)
	}
	out := []Application{}
	for _, name := range slices.Sorted(maps.Keys(byApp)) {
		out = append(out, *byApp[name])
	}
	return out
}

// countApplicationFindings adds each finding about an apply receipt to
// its application (and host) in the report's zones. Run after the gates
// are decided.
func (r *Report) countApplicationFindings(fileRec map[string]*record) {
	type key struct{ zone, app string }
	apps := map[key]*Application{}
	for zi := range r.Zones {
		z := &r.Zones[zi]
		for ai := range z.Applications {
			apps[key{z.Name, z.Applications[ai].Name}] = &z.Applications[ai]
		}
	}
	for _, f := range r.Findings {
		if f.File == "" || f.namesLedgerFile() {
			continue
		}
		rec := fileRec[f.File]
		app := apps[key{recZone(rec), applicationOf(rec)}]
		if app == nil {
			continue
		}
		app.Findings++
		if f.Gate != "" {
			app.Failing++
		}
		switch f.Severity {
		case SeverityError:
			app.Errors++
		case SeverityWarning:
			app.Warnings++
		}
		for hi := range app.Hosts {
			if app.Hosts[hi].Host == rec.chain {
				app.Hosts[hi].Findings++
			}
		}
	}
}

func recZone(r *record) string {
	if r == nil {
		return ""
	}
	return r.zone
}
