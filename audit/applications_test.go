package audit

import (
	"testing"
	"time"

	"airlock.dev/airlock/receipt"
)

// TestApplications checks the per-application summary: a host runs the
// version of its newest applied (or already-applied) receipt, whatever
// failed or rolled back after it; control changes name no application;
// the window bounds the outcomes, not what a host runs.
func TestApplications(t *testing.T) {
	day := func(d int) int64 { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC).UnixNano() }
	apply := func(host string, seq uint64, d int, name, version string, result receipt.OutcomeResult) *record {
		b := &BundleRef{}
		b.Name, b.Version = name, version
		return &record{chain: host, seq: seq, at: day(d), event: receipt.EventApply, bundle: b, result: result}
	}
	order := []*record{
		{chain: "h1", seq: 1, at: day(1), event: receipt.EventGenesis},
		apply("h1", 2, 2, "api", "1.0", receipt.Applied),
		apply("h1", 3, 3, "batch", "0.9", receipt.Refused),
		apply("h1", 4, 4, "api", "1.1", receipt.RolledBack),
		apply("h2", 2, 5, "api", "1.1", receipt.Applied),
		apply("h1", 5, 6, "api", "1.2", receipt.Failed),
	}
	a := &auditor{opts: Options{Since: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}}
	got := a.applications(order)
	if len(got) != 2 || got[0].Name != "api" || got[1].Name != "batch" {
		t.Fatalf("applications = %+v, want api and batch", got)
	}
	api := got[0]
	if len(api.Hosts) != 2 || api.Hosts[0].Host != "h1" || api.Hosts[1].Host != "h2" {
		t.Fatalf("api hosts = %+v", api.Hosts)
	}
	h1 := api.Hosts[0]
	if h1.Current != "1.0" || h1.CurrentSeq != 2 || h1.Last != receipt.Failed || h1.LastSeq != 5 {
		t.Errorf("api on h1 = %+v, want current 1.0 (seq 2), last failed (seq 5)", h1)
	}
	if h1.Outcomes != (Outcomes{RolledBack: 1, Failed: 1}) {
		t.Errorf("api on h1 outcomes = %+v, want the window's rolled back and failed only", h1.Outcomes)
	}
	if api.Hosts[1].Current != "1.1" || api.Outcomes != (Outcomes{Applied: 1, RolledBack: 1, Failed: 1}) {
		t.Errorf("api = %+v", api)
	}
	if b := got[1].Hosts[0]; b.Current != "" || b.Last != receipt.Refused {
		t.Errorf("batch on h1 = %+v, want nothing current, last refused", b)
	}
}
