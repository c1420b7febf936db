package audit

import (
	"fmt"
	"slices"
	"strings"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// pciRow maps one PCI DSS v4.0.1 requirement to the receipt fields that
// evidence it and says how well this folder's receipts do.
type pciRow struct {
	Req      string
	Asks     string
	Fields   string
	Evidence string
	Status   string   // ok | attention | missing
	Lacking  []string // files of applies lacking the evidence (bounded)
	More     int      // further files not listed
}

const maxLacking = 10

// evidenceRows builds the PCI DSS 10.2.2, 10.3 and 6.5.x mapping from the
// applies in the report (those within the window).
func (r *Report) evidenceRows() []pciRow {
	var all []*Apply
	for i := range r.Zones {
		for j := range r.Zones[i].Applies {
			all = append(all, &r.Zones[i].Applies[j])
		}
	}
	n := len(all)
	ranApplies := filterApplies(all, func(a *Apply) bool { return ran(a.Result) })
	rows := []pciRow{
		countRow("10.2.2 user identification", "who performed the event, an individual ID (8.2.1)",
			"operator.user, operator.uid, operator.name; bundle signers (keyid, role)",
			all, func(a *Apply) bool { return a.Operator.User != "" && a.Operator.UID != "" }, "name the operator's OS account and uid"),
		countRow("10.2.2 type of event", "what happened",
			"outcome.result and reason, checks[], steps[] (name, kind)",
			all, func(a *Apply) bool { return a.Result != "" && a.Reason != "" }, "record an outcome and reason"),
		countRow("10.2.2 date and time", "when, from a synchronised clock (10.6)",
			"time.started, time.finished (UTC), time.source",
			all, func(a *Apply) bool { return !a.Started.IsZero() && !a.Finished.IsZero() && a.ClockSource != "" },
			"record start, end and clock source"),
		outcomeRow(all),
		countRow("10.2.2 origination", "where the event came from",
			"host.name, applier.version",
			all, func(a *Apply) bool { return a.Host != "" && a.Applier != "" }, "name the host and applier version"),
		countRow("10.2.2 affected component", "which data, component or resource",
			"bundle id, name, version, statementSha256; steps[]; subject[] (deployed files)",
			all, func(a *Apply) bool { return a.Bundle.ID != "" && a.Bundle.StatementSHA256 != "" }, "identify the bundle by id and statement digest"),
		r.integrityRow(),
		countRow("6.5.1 reason and description of change", "each change has a documented reason",
			"bundle.changeTicket, bundle.changeReason",
			ranApplies, func(a *Apply) bool { return a.Bundle.ChangeTicket != "" }, "carry a change ticket"),
		countRow("6.5.1 change approval", "approval by authorised parties",
			"bundle.signers[] with role approve (verified in the zone against trust.yaml)",
			ranApplies, func(a *Apply) bool { return len(a.Bundle.Approvers()) > 0 }, "carry an approve-role signature"),
		backoutRow(ranApplies),
		countRow("6.5.4 separation of duties", "builder, approver and operator are different",
			"bundle.signers[] (release and approve keys), operator.user",
			ranApplies, separated, "show distinct release and approve keys"),
	}
	for i := range rows {
		if n == 0 && rows[i].Status == "ok" {
			rows[i].Evidence = "no applies in the report window"
		}
	}
	return rows
}

func filterApplies(as []*Apply, keep func(*Apply) bool) []*Apply {
	var out []*Apply
	for _, a := range as {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

// countRow says how many of the applies have the evidence and lists the
// files of those that do not.
func countRow(req, asks, fields string, as []*Apply, has func(*Apply) bool, what string) pciRow {
	row := pciRow{Req: req, Asks: asks, Fields: fields, Status: "ok"}
	ok := 0
	for _, a := range as {
		if has(a) {
			ok++
			continue
		}
		if len(row.Lacking) < maxLacking {
			row.Lacking = append(row.Lacking, fmt.Sprintf("%s#%d %s", a.Zone, a.Seq, a.File))
		} else {
			row.More++
		}
	}
	row.Evidence = fmt.Sprintf("%d of %s %s", ok, plural(len(as), "apply", "applies"), what)
	if ok < len(as) {
		row.Status = "attention"
	}
	return row
}

func outcomeRow(as []*Apply) pciRow {
	var o Outcomes
	for _, a := range as {
		o.add(a.Result)
	}
	return pciRow{
		Req: "10.2.2 success or failure", Asks: "whether the event succeeded",
		Fields: "outcome.result (applied, already-applied, refused, failed, rolled-back), steps[].result, exitCode",
		Evidence: fmt.Sprintf("%d applied, %d already applied, %d refused, %d failed, %d rolled back",
			o.Applied, o.AlreadyApplied, o.Refused, o.Failed, o.RolledBack),
		Status: "ok",
	}
}

// integrityRow is 10.3.2/10.3.4: receipts are protected from modification
// and changes are detected, by signatures and the hash chain.
func (r *Report) integrityRow() pciRow {
	row := pciRow{
		Req: "10.3.2, 10.3.4 log integrity", Asks: "audit logs protected from modification; changes detected",
		Fields: "DSSE signature by the zone receipt key; seq and prevSha256 hash chain",
		Status: "ok",
	}
	var broken []string
	for _, z := range r.Zones {
		if !z.ChainOK {
			broken = append(broken, z.Name)
		}
	}
	row.Evidence = fmt.Sprintf("%s verified, %s rejected; %s with an unbroken chain",
		plural(r.Summary.Receipts, "receipt", "receipts"), plural(r.Summary.Rejected, "file", "files"),
		plural(len(r.Zones)-len(broken), "zone", "zones"))
	if r.Summary.Rejected > 0 || len(broken) > 0 {
		row.Status = "missing"
		if len(broken) > 0 {
			row.Evidence += "; broken: " + strings.Join(broken, ", ")
		}
	}
	for _, f := range r.Findings {
		if f.Severity == SeverityError && f.File != "" && !strings.HasPrefix(f.Kind, "ledger") && f.Kind != KindNotInLedger {
			if len(row.Lacking) < maxLacking {
				row.Lacking = append(row.Lacking, fmt.Sprintf("%s: %s", f.Kind, f.File))
			} else {
				row.More++
			}
		}
	}
	return row
}

// backoutRow is 6.5.1 "procedures to address failures and return to a
// secure state": failed applies should have been rolled back.
func backoutRow(as []*Apply) pciRow {
	row := pciRow{
		Req: "6.5.1 failure and back-out", Asks: "procedures to address failures and return to a secure state",
		Fields: "outcome.result rolled-back, steps[] with when=failure, release.previous",
		Status: "ok",
	}
	var rolled, failed int
	for _, a := range as {
		switch a.Result {
		case receipt.RolledBack:
			rolled++
		case receipt.Failed:
			failed++
			if len(row.Lacking) < maxLacking {
				row.Lacking = append(row.Lacking, fmt.Sprintf("%s#%d %s", a.Zone, a.Seq, a.File))
			} else {
				row.More++
			}
		}
	}
	row.Evidence = fmt.Sprintf("%d rolled back; %d failed without a completed rollback", rolled, failed)
	if failed > 0 {
		row.Status = "attention"
	}
	return row
}

// separated reports whether a bundle's approve signature comes from a key
// other than its release signature.
func separated(a *Apply) bool {
	approvers := a.Bundle.Approvers()
	if len(approvers) == 0 {
		return false
	}
	for _, s := range a.Bundle.Signers {
		if s.Role != zone.RoleApprove && slices.Contains(approvers, s.KeyID) {
			return false
		}
	}
	return true
}
