package audit

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// EvidenceRow maps one PCI DSS v4.0.1 requirement to the receipt fields
// that evidence it, and says how well the audited receipts do: "ok" when
// the receipts evidence the whole requirement and every entry that should
// does; "partial" when every entry evidences what receipts can, but the
// requirement asks more (Ask says what the assessor must still obtain
// elsewhere); "attention" when some entries do not (Lacking names them);
// "missing" when nothing in the folder evidences it. The status is always
// computed from the receipts, never set by hand, and never "ok" on less
// than the requirement.
type EvidenceRow struct {
	Req      string `json:"requirement"`
	Asks     string `json:"asks"`
	Fields   string `json:"fields"`
	Evidence string `json:"evidence"`
	Status   string `json:"status"`
	// Ask is what the assessor must obtain beyond the receipts, for a
	// requirement they evidence only in part (or not at all).
	Ask     string   `json:"ask,omitempty"`
	Lacking []string `json:"lacking,omitempty"` // entries lacking the evidence (bounded)
	More    int      `json:"more,omitempty"`    // further entries not listed
}

// Evidence statuses; a row evidenced in part is StatusPartial, the word a
// ledger bundle applied on some of its hosts has too.
const (
	StatusOK        = "ok"
	StatusAttention = "attention"
	StatusMissing   = "missing"
)

const maxLacking = 10

// evidence is the population a row counts over.
type evidence struct {
	entries   []*record // every entry in the window (applies and control changes)
	applies   []*record // applies in the window
	ran       []*record // applies in the window whose steps ran
	zones     []Zone
	chains    []zoneChain
	findings  map[string]int // kind → count
	rejected  int
	now       time.Time
	attested  bool
	acked     map[string]bool // files of acknowledged tampering findings
	lag       carryLag
	stateRead bool
}

// evidenceRows builds the PCI DSS map from the audited entries.
func (a *auditor) evidenceRows(r *Report) []EvidenceRow {
	ev := &evidence{zones: r.Zones, findings: r.Summary.Kinds, rejected: r.Summary.Rejected, now: r.GeneratedAt,
		attested: slices.ContainsFunc(r.Options, func(o string) bool { return o == "--attest" || strings.HasPrefix(o, "--attest=") }),
		acked:    map[string]bool{}, lag: a.carryLag(r.GeneratedAt), stateRead: a.opts.State != nil}
	for _, f := range r.Findings {
		if f.Kind == KindTampering && f.Acknowledged != nil {
			ev.acked[f.File] = true
		}
	}
	for _, z := range r.Zones {
		for _, c := range z.Chains {
			ev.chains = append(ev.chains, zoneChain{z.Name, c})
		}
	}
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		for _, rec := range a.zones[z] {
			if !a.opts.inWindow(rec.started()) {
				continue
			}
			ev.entries = append(ev.entries, rec)
			if rec.isApply() {
				ev.applies = append(ev.applies, rec)
				if rec.ran() {
					ev.ran = append(ev.ran, rec)
				}
			}
		}
	}
	attributable := filter(ev.entries, func(x *record) bool { return x.event != receipt.EventGenesis })
	root := filter(attributable, func(x *record) bool {
		return x.operator.UID == "0" || x.operator.User == "root" || x.operator.SudoUser != ""
	})
	deploys := filter(ev.ran, func(x *record) bool { return x.deployed || x.pruned || x.result == receipt.Applied })
	return []EvidenceRow{
		ev.logsActive(),
		{Req: "10.2.1.1 access to cardholder data", Asks: "individual user access to cardholder data is logged",
			Fields: "(none: receipts record changes to a zone, not reads of cardholder data)", Status: StatusMissing,
			Evidence: "no receipt field records access to cardholder data",
			Ask:      "the logs of the systems that hold cardholder data, of every individual access to it"},
		count("10.2.1.2 actions by root or administrators", "all actions by anyone with root or administrative access are logged",
			"operator.uid, operator.sudoUser, operator.loginUid, operator.key (co-signature)",
			root, func(x *record) bool { return x.attributed }, "attributed to a person", "no entry ran as root or through sudo").
			beyond("the hosts' own logs (auditd, sudo, the shell) of every other action taken with root or administrative access: receipts record only airlock's applies and policy commits"),
		ev.logAccess(),
		ev.refusals().
			beyond("the systems' logs of other invalid logical access attempts (failed logins, denied sudo): receipts record only the applies airlock refused"),
		ev.credentialChanges(),
		ev.logStarts(),
		count("10.2.1.7 creation and deletion of system-level objects", "objects created and deleted by the change are logged",
			"files, filesSha256 and filesList (created), release.pruned (deleted)",
			deploys, func(x *record) bool { return x.deployed }, "record the files they deployed", "no apply deployed anything").
			beyond("the hosts' records (auditd, file integrity monitoring) of system-level objects created or deleted outside airlock's deploy steps, such as by scripts the steps ran"),
		count("10.2.2 user identification", "who performed the event: an individual, not a shared or root account (8.2.1, 8.2.2)",
			"operator.user, uid, sudoUser, loginUid, name, key (co-signature by a named operator); bundle signers with names",
			attributable, func(x *record) bool { return x.attributed }, "attributed to a person", ""),
		count("10.2.2 type of event", "what happened",
			"event (apply, genesis, policy), outcome.result and reason, checks[], steps[] (name, kind)",
			ev.entries, func(x *record) bool { return x.result != "" && x.reason != "" }, "record an event, outcome and reason", ""),
		count("10.2.2 date and time", "when, from a synchronised clock (10.6)",
			"time.started, time.finished (UTC), time.clock (kernel synchronisation state, estimated error, time service)",
			ev.entries, func(x *record) bool { return !x.started().IsZero() && x.clock == clockSynced }, "record a time from a clock the kernel reports synchronised", "").
			withFinding(ev, KindClockBackwards),
		ev.outcomes(),
		ev.origination(),
		count("10.2.2 affected component", "which data, component or resource",
			"bundle id, name, version, statementSha256; files[] (deployed files and digests); policy (control changes)",
			ev.entries, func(x *record) bool {
				return (x.isApply() && x.bundle.ID != "" && x.bundle.StatementSHA256 != "") || (!x.isApply() && x.policy != nil)
			}, "identify the bundle by id and statement digest, or the policy", ""),
		ev.storage(),
		ev.integrity(),
		ev.carriedOut(),
		ev.changeDetection(),
		ev.retention(),
		ev.clocks(),
		ev.detection(),
		ev.response(),
		ev.identities(attributable),
		ev.identityChanges(),
		count("6.5.1 reason and description of change", "each change has a documented reason and description",
			"bundle.changeTicket, bundle.changeReason", ev.ran, func(x *record) bool { return x.bundle.ChangeTicket != "" && x.bundle.ChangeReason != "" },
			"carry a change ticket and reason", "no change ran"),
		count("6.5.1 security impact", "documentation of the security impact",
			"bundle.changeSecurityImpact", ev.ran, func(x *record) bool { return x.bundle.ChangeSecurityImpact != "" },
			"document their security impact", "no change ran"),
		count("6.5.1 change approval", "approval by authorised parties",
			"bundle.signers[] with role approve and the approver's name (verified in the zone against trust.yaml)",
			ev.ran, func(x *record) bool { return len(x.bundle.Approvers()) > 0 }, "carry an approve-role signature", "no change ran"),
		count("6.5.1 testing", "testing to verify the change does not adversely impact security",
			"bundle.changeTestEvidence[] (files in the bundle, digests in the signed manifest)",
			ev.ran, func(x *record) bool { return len(x.bundle.ChangeTestEvidence) > 0 }, "carry test evidence", "no change ran"),
		count("6.5.1 back-out procedures", "procedures to address failures and return to a secure state",
			"bundle.changeBackout, steps[] with when=failure, outcome rolled-back",
			ev.ran, func(x *record) bool { return x.bundle.ChangeBackout != "" || x.failureStep }, "document a back-out or carry failure steps", "no change ran"),
		count("6.5.2 confirmation after the change", "applicable requirements confirmed in place after a significant change",
			"checks[] all passed; policy (the trust policy in force recorded with the change)",
			filter(ev.ran, func(x *record) bool { return x.result == receipt.Applied }), func(x *record) bool { return x.checksPass && x.policy != nil },
			"record every check passed and the policy in force", "no change was applied").
			beyond("the confirmation that every applicable PCI DSS requirement is in place after each significant change (its post-implementation review): receipts show only airlock's checks and the zone's policy"),
		count("6.5.3 separation of pre-production and production", "pre-production separated from production, enforced by access controls",
			"checks[target] (zone and host targets), one receipt key per zone (zone-mismatch)",
			ev.ran, func(x *record) bool { return x.targetPass }, "pass the target check of their zone", "no change ran").withFinding(ev, KindZoneMismatch).
			beyond("the separation of the environments themselves (network segmentation, access controls between them): receipts show only that each change passed its zone's target check"),
		count("6.5.4 separation of duties", "roles and functions separated between production and pre-production; builder, approver and operator differ",
			"bundle.signers[] (release and approve keys and names), operator.key",
			ev.ran, separated, "show distinct release, approve and operator keys and persons", "no change ran"),
		{Req: "6.5.5 live PANs in pre-production", Asks: "live PANs are not used in pre-production environments",
			Fields: "(none: receipts do not see the data a zone holds)", Status: StatusMissing,
			Evidence: "no receipt field can show which data pre-production holds",
			Ask:      "evidence from the pre-production environments that they hold no live PANs (data discovery, test data procedures)"},
		count("6.5.6 test data removed", "test data and accounts removed before the system goes into production",
			"bundle.changeTestEvidence[] against files[] (deployed files)",
			filter(ev.ran, func(x *record) bool { return len(x.bundle.ChangeTestEvidence) > 0 }), func(x *record) bool { return !x.evidenceOut },
			"keep their test evidence out of the deployed files", "no change carried test evidence").
			beyond("evidence that test data and test accounts were removed from the systems themselves (databases, accounts): receipts show only that the changes' test evidence files were not deployed"),
	}
}

func filter(rs []*record, keep func(*record) bool) []*record {
	var out []*record
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// count says how many entries have the evidence and names those that do
// not: ok when all do, attention when some do not, missing when none do.
// With no entry to count, none says why (ok), or the row is missing.
func count(req, asks, fields string, rs []*record, has func(*record) bool, what, none string) EvidenceRow {
	row := EvidenceRow{Req: req, Asks: asks, Fields: fields}
	if len(rs) == 0 {
		if none != "" {
			row.Status, row.Evidence = StatusOK, none+" in the report window"
		} else {
			row.Status, row.Evidence = StatusMissing, "no entry in the report window"
		}
		return row
	}
	ok := 0
	for _, r := range rs {
		if has(r) {
			ok++
			continue
		}
		row.lack(fmt.Sprintf("%s#%d %s", r.zone, r.seq, r.file))
	}
	row.Evidence = fmt.Sprintf("%d of %d entries %s", ok, len(rs), what)
	switch {
	case ok == len(rs):
		row.Status = StatusOK
	case ok == 0:
		row.Status = StatusMissing
	default:
		row.Status = StatusAttention
	}
	return row
}

// judge sets the status from the evidence: missing when nothing in the
// folder evidences the requirement, attention when some of it is lacking,
// ok otherwise.
func (row *EvidenceRow) judge(missing, lacking bool) {
	switch {
	case missing:
		row.Status = StatusMissing
	case lacking:
		row.Status = StatusAttention
	default:
		row.Status = StatusOK
	}
}

func (row *EvidenceRow) lack(s string) {
	if len(row.Lacking) < maxLacking {
		row.Lacking = append(row.Lacking, s)
	} else {
		row.More++
	}
}

// beyond marks a row whose requirement asks more than receipts show: an
// ok row becomes partial, and every status carries the ask.
func (row EvidenceRow) beyond(ask string) EvidenceRow {
	if row.Status == StatusOK {
		row.Status = StatusPartial
	}
	row.Ask = ask
	return row
}

// withFinding turns an ok row to attention when findings of kind exist.
func (row EvidenceRow) withFinding(ev *evidence, kind string) EvidenceRow {
	if n := ev.findings[kind]; n > 0 {
		row.Evidence += fmt.Sprintf("; %s", plural(n, kind+" finding", kind+" findings"))
		if row.Status == StatusOK {
			row.Status = StatusAttention
		}
	}
	return row
}

// errorsOf counts findings of the given kinds.
func (ev *evidence) errorsOf(kinds ...string) int {
	n := 0
	for _, k := range kinds {
		n += ev.findings[k]
	}
	return n
}

func (ev *evidence) logsActive() EvidenceRow {
	row := EvidenceRow{Req: "10.2.1 audit logs enabled and active", Asks: "audit logs are enabled and active for all system components",
		Fields: "one signed receipt per apply and control change, hash-chained per host; the folder checked for completeness"}
	broken := ev.errorsOf(KindNoReceipts, KindMissingZone, KindMissingHost, KindUnusedKey, KindTruncated, KindGap, KindRestart, KindStateMissing, KindStateInvalid)
	row.Evidence = fmt.Sprintf("%s (%s) with receipts; %s on completeness (missing zones and hosts, unused keys, truncated chains, gaps, the audit state)",
		plural(len(ev.zones), "zone", "zones"), plural(len(ev.chains), "host", "hosts"), plural(broken, "finding", "findings"))
	row.judge(len(ev.zones) == 0, broken > 0)
	return ev.unchecked(row)
}

// unchecked turns an ok row to attention when the audit had no earlier
// head to compare some chain with: a missing newest receipt would not be
// seen, so completeness is not shown.
func (ev *evidence) unchecked(row EvidenceRow) EvidenceRow {
	if n := ev.findings[KindNoEarlierHead]; n > 0 {
		row.Evidence += fmt.Sprintf("; attention: no earlier head to compare for %s (no --state or --expect): completeness not checked", plural(n, "chain", "chains"))
		if row.Status == StatusOK || row.Status == StatusPartial {
			row.Status = StatusAttention
		}
	}
	return row
}

func (ev *evidence) logAccess() EvidenceRow {
	row := EvidenceRow{Req: "10.2.1.3 access to audit logs", Asks: "all access to audit logs is logged",
		Fields: "the audit's own signed result (--attest)",
		Ask:    "the access logs of wherever the receipts, the audit state and the reports are kept (who read or copied them)"}
	if ev.attested {
		row.Status, row.Evidence = StatusPartial, "this audit's reading of the receipts is attested (--attest); other reads of the receipts are not recorded by airlock"
	} else {
		row.Status, row.Evidence = StatusMissing, "reads of receipts are not recorded; run audits with --attest to record them"
	}
	return row
}

func (ev *evidence) refusals() EvidenceRow {
	refused := filter(ev.applies, func(x *record) bool { return x.result == receipt.Refused })
	row := count("10.2.1.4 invalid access attempts", "invalid logical access attempts are logged",
		"outcome refused with the reason code, checks[] with the failed check and detail",
		refused, func(x *record) bool {
			return x.reason != "" && (!x.checksPass || !slices.Contains(tamperChecks, receipt.CheckName(x.reason)))
		},
		"name their reason and failed check", "no attempt was refused")
	if len(ev.entries) == 0 {
		row.Status, row.Evidence = StatusMissing, "no entry in the report window"
		return row
	}
	row.Evidence += fmt.Sprintf("; %s", plural(ev.findings[KindTampering], "tampering attempt", "tampering attempts"))
	return row
}

func (ev *evidence) credentialChanges() EvidenceRow {
	row := EvidenceRow{Req: "10.2.1.5 changes to credentials", Asks: "changes to identification and authentication credentials are logged",
		Fields: "policy (trust.yaml digest; roles, keys and names; operators) in every entry; policy commits (event policy, policyChange); drift records (event drift); applies refused for an uncommitted trust.yaml (reason policy-uncommitted)",
		Ask: "the hosts' logs of changes to OS accounts, passwords and SSH keys; receipts record airlock's signing and operator keys only, " +
			"and an edit of trust.yaml only once a command of airlock reads it (a commit, an apply it refuses, or plan and zone check, which record it as drift)"}
	withPolicy := filter(ev.entries, func(x *record) bool { return x.policy != nil })
	commits := filter(ev.entries, func(x *record) bool { return x.event == receipt.EventPolicy })
	refused := filter(ev.applies, func(x *record) bool {
		return x.result == receipt.Refused && x.reason == receipt.ReasonPolicyUncommitted
	})
	drifts := filter(ev.entries, func(x *record) bool { return x.event == receipt.EventDrift })
	uncommitted := ev.findings[KindPolicyUncommitted]
	row.Evidence = fmt.Sprintf("%d of %d entries record the policy in force; %s; %s; %s; %s",
		len(withPolicy), len(ev.entries), plural(len(commits), "committed policy change", "committed policy changes"),
		plural(len(refused), "apply refused for an uncommitted trust.yaml edit (policy-uncommitted)", "applies refused for an uncommitted trust.yaml edit (policy-uncommitted)"),
		plural(len(drifts), "uncommitted trust.yaml edit found and recorded (drift)", "uncommitted trust.yaml edits found and recorded (drift)"),
		plural(uncommitted, "change that ran uncommitted", "changes that ran uncommitted"))
	for _, x := range ev.entries {
		if x.policy == nil {
			row.lack(fmt.Sprintf("%s#%d %s", x.zone, x.seq, x.file))
		}
	}
	row.judge(len(withPolicy) == 0, uncommitted > 0 || len(withPolicy) < len(ev.entries))
	return row.beyond(row.Ask)
}

// zoneChain is a host's chain and its zone.
type zoneChain struct {
	zone string
	Chain
}

// label names a chain in evidence rows: ZONE/HOST.
func (c zoneChain) label() string { return c.zone + "/" + c.Host }

func (ev *evidence) logStarts() EvidenceRow {
	row := EvidenceRow{Req: "10.2.1.6 start and stop of audit logs", Asks: "initialization, stopping or pausing of the audit logs is logged",
		Fields: "the genesis record (seq 1, event genesis) of each host's chain; restarts and gaps of the chain"}
	genesis := 0
	for _, c := range ev.chains {
		if c.Genesis {
			genesis++
		} else {
			row.lack("chain " + c.label() + " (no genesis record)")
		}
	}
	stops := ev.errorsOf(KindRestart, KindGap, KindTruncated, KindMissingHost)
	row.Evidence = fmt.Sprintf("%d of %s start with a genesis record; %s", genesis, plural(len(ev.chains), "host chain", "host chains"),
		plural(stops, "restart, gap, truncation or missing host", "restarts, gaps, truncations or missing hosts"))
	row.judge(genesis == 0, genesis < len(ev.chains) || stops > 0)
	return row
}

func (ev *evidence) outcomes() EvidenceRow {
	var o Outcomes
	for _, x := range ev.applies {
		o.add(x.result)
	}
	row := count("10.2.2 success or failure", "whether the event succeeded",
		"outcome.result (applied, already-applied, refused, failed, rolled-back, recorded), steps[].result, exitCode",
		ev.entries, func(x *record) bool { return slices.Contains(receipt.OutcomeResults, x.result) }, "record a known outcome", "")
	if len(ev.entries) > 0 {
		row.Evidence += fmt.Sprintf(": %d applied, %d already applied, %d refused, %d failed, %d rolled back",
			o.Applied, o.AlreadyApplied, o.Refused, o.Failed, o.RolledBack)
	}
	return row
}

func (ev *evidence) storage() EvidenceRow {
	return count("10.3.1 read access to audit logs limited", "read access to audit log files is limited to a job-related need",
		"storage.dirMode and fileMode (receipts folder 0700, receipts 0640 when written)",
		ev.entries, func(x *record) bool { return x.storage != nil && !worldAccess(x.storage) },
		"record storage closed to other users when written", "").
		beyond("the permissions the receipts have now, on each host's state directory and wherever the carried-out copies are kept (a listing of owners, modes and ACLs): receipts record their modes only when written")
}

// worldAccess reports whether a storage record lets other users in.
func worldAccess(s *receipt.Storage) bool {
	d, err1 := strconv.ParseUint(s.DirMode, 8, 32)
	f, err2 := strconv.ParseUint(s.FileMode, 8, 32)
	return err1 != nil || err2 != nil || d&0o007 != 0 || f&0o007 != 0
}

func (ev *evidence) integrity() EvidenceRow {
	row := EvidenceRow{Req: "10.3.2 audit logs protected from modification", Asks: "audit log files are protected to prevent modifications",
		Fields: "DSSE signature by the zone's receipt key (and the operator's co-signature); files beside receipts bound by digest"}
	bad := ev.rejected + ev.findings[KindAttachmentMismatch]
	row.Evidence = fmt.Sprintf("%s verified; %s rejected; %s",
		plural(len(ev.entries), "entry", "entries"), plural(ev.rejected, "file", "files"), plural(ev.findings[KindAttachmentMismatch], "edited file list or log", "edited file lists or logs"))
	row.judge(len(ev.entries) == 0, bad > 0)
	return row
}

func (ev *evidence) carriedOut() EvidenceRow {
	row := EvidenceRow{Req: "10.3.3 audit logs backed up", Asks: "audit logs are promptly backed up to a secure central store",
		Fields: "receipts copied out with --receipt-out; chain heads confirmed by --state or --expect; the hosts of the zone register",
		Ask: "the secure central store the receipts are copied to, its access controls, and how promptly receipts reach it: " +
			"the receipts show they were carried out by this audit, not where they are kept nor when they were copied"}
	truncated := ev.errorsOf(KindTruncated, KindMissingZone, KindMissingHost)
	row.Evidence = fmt.Sprintf("%s carried out; %s", plural(len(ev.chains), "host's chain", "hosts' chains"), plural(truncated, "truncated or missing chain", "truncated or missing chains"))
	switch l := ev.lag; {
	case l.receipts > 0:
		row.Evidence += fmt.Sprintf("; %s new since the last audit, carried out at most %s after it was written (the oldest, %s)",
			plural(l.receipts, "receipt", "receipts"), humanDuration(l.max), l.oldest)
	case !ev.stateRead:
		row.Evidence += "; no lag measured (no audit state read: receipts new since the last audit are not known)"
	default:
		row.Evidence += "; no lag measured (no receipt new since the last audit)"
	}
	row.judge(len(ev.chains) == 0 || truncated > 0, false)
	return ev.unchecked(row.beyond(row.Ask))
}

// carryLag is how long after they were written the receipts new since the
// last audit reached this one: an upper bound of how promptly they were
// carried out.
type carryLag struct {
	receipts int
	max      time.Duration
	oldest   string // the receipt of the longest lag
}

// carryLag measures the lag of the receipts after each head of the state
// (--state), on chains that reach it.
func (a *auditor) carryLag(now time.Time) carryLag {
	var l carryLag
	st := a.opts.State
	if st == nil {
		return l
	}
	for _, h := range st.Heads {
		want, _ := parseDigest(h.SHA256)
		for _, k := range a.chainsOf(h.Zone, h.Host) {
			order := a.chains[k]
			i := slices.IndexFunc(order, func(r *record) bool { return r.link == want })
			if i < 0 {
				continue
			}
			for _, r := range order[i+1:] {
				if !a.opts.inWindow(r.started()) {
					continue
				}
				l.receipts++
				if d := now.Sub(r.started()); d > l.max {
					l.max, l.oldest = d, fmt.Sprintf("%s/%s#%d of %s", r.zone, r.chain, r.seq, stamp(r.started()))
				}
			}
		}
	}
	return l
}

// chainsOf lists the chains of a zone a head names: its host's, or, for a
// head without a host, every chain of the zone.
func (a *auditor) chainsOf(zoneName, host string) []chainKey {
	if host != "" {
		return []chainKey{{zoneName, host}}
	}
	var out []chainKey
	for _, h := range a.hostsOf(zoneName) {
		out = append(out, chainKey{zoneName, h})
	}
	return out
}

func (ev *evidence) changeDetection() EvidenceRow {
	row := EvidenceRow{Req: "10.3.4 change detection on audit logs", Asks: "changes to existing audit logs are detected",
		Fields: "seq and prevSha256 hash chain (statement digests); signatures; the heads of the last audit (--state) or stated (--expect); this audit"}
	var broken []string
	for _, c := range ev.chains {
		if !c.ChainOK {
			broken = append(broken, c.label())
			row.lack("chain " + c.label())
		}
	}
	row.Evidence = fmt.Sprintf("%s unbroken; %s", plural(len(ev.chains)-len(broken), "host chain", "host chains"), plural(ev.rejected, "rejected file", "rejected files"))
	row.judge(len(ev.chains) == 0, len(broken) > 0 || ev.rejected > 0)
	return ev.unchecked(row)
}

func (ev *evidence) retention() EvidenceRow {
	row := EvidenceRow{Req: "10.5.1 retention for 12 months", Asks: "audit log history retained for at least 12 months, the last three immediately available",
		Fields: "each host's chain from seq 1 (its genesis record) to its head"}
	var parts []string
	complete := 0
	for _, c := range ev.chains {
		months := monthsBetween(c.FirstStarted, ev.now)
		from := "from seq 1"
		if c.FirstSeq == 1 {
			complete++
		} else {
			from = fmt.Sprintf("from seq %d (earlier receipts missing)", c.FirstSeq)
			row.lack("chain " + c.label())
		}
		parts = append(parts, fmt.Sprintf("%s %s, %s (since %s)", c.label(), from, plural(months, "month", "months"), day(c.FirstStarted)))
	}
	if len(parts) > 20 {
		parts = append(parts[:20], fmt.Sprintf("and %d more", len(parts)-20))
	}
	row.Evidence = strings.Join(parts, "; ")
	switch {
	case len(ev.chains) == 0:
		row.Status, row.Evidence = StatusMissing, "no zone in the folder"
	case complete < len(ev.chains):
		row.Status = StatusMissing
	default:
		row.Status = StatusOK
		for _, c := range ev.chains {
			if monthsBetween(c.FirstStarted, ev.now) < 12 && !c.Genesis {
				// The history retained is shorter than 12 months and does not
				// begin with the zone's creation: older receipts may be gone.
				row.Status = StatusAttention
			}
		}
	}
	return row
}

func monthsBetween(from, to time.Time) int {
	if from.IsZero() || to.Before(from) {
		return 0
	}
	m := (to.Year()-from.Year())*12 + int(to.Month()-from.Month())
	if to.Day() < from.Day() {
		m--
	}
	return max(m, 0)
}

func (ev *evidence) clocks() EvidenceRow {
	row := count("10.6.1 time synchronisation", "system clocks are synchronised",
		"time.clock.synchronised, estimatedErrorMicros, maxErrorMicros, service (kernel adjtimex state when the entry was made)",
		ev.entries, func(x *record) bool { return x.clock == clockSynced }, "made on a clock the kernel reports synchronised", "")
	unsynced := len(filter(ev.entries, func(x *record) bool { return x.clock == clockUnsynced }))
	unknown := len(filter(ev.entries, func(x *record) bool { return x.clock == clockUnknown }))
	if len(ev.entries) > 0 {
		row.Evidence += fmt.Sprintf("; %d unsynchronised, %d without clock state", unsynced, unknown)
	}
	return row.withFinding(ev, KindClockBackwards)
}

func (ev *evidence) detection() EvidenceRow {
	row := EvidenceRow{Req: "10.7.2 failures of security controls detected", Asks: "failures of critical security control systems are detected, alerted and addressed",
		Fields: "refusals by check (tampering attempts), failed and rolled-back applies, chain breaks — as findings, and as one JSON line each (--jsonl)",
		Ask: "the alerting on these failures (such as the SIEM rules fed with --jsonl) and the records of how each was addressed: " +
			"receipts and this audit show the failures detected, not that anyone was alerted"}
	failures := ev.errorsOf(KindTampering, KindTampered, KindGap, KindFork, KindReorder, KindRestart, KindTruncated, KindPolicyUncommitted) +
		ev.findings[KindFailed] + ev.findings[KindRolledBack]
	row.Evidence = fmt.Sprintf("%s detected and reported in this audit", plural(failures, "control failure", "control failures"))
	if len(ev.entries) == 0 {
		row.Status = StatusMissing
	} else {
		row.Status = StatusPartial
	}
	return row
}

func (ev *evidence) response() EvidenceRow {
	row := EvidenceRow{Req: "10.7.3 failures responded to", Asks: "failures of critical security controls are responded to promptly and security restored",
		Fields: "a failed or rolled-back apply followed by a successful apply of the same release channel on the same host; a tampering refusal acknowledged by the auditor (audit ack)",
		Ask: "the incident records of each failure: what was done, by whom and when, and how security was restored " +
			"(a later successful apply restores the release, it is not a response to the failure)"}
	failed := filter(ev.applies, func(x *record) bool { return x.result == receipt.Failed || x.result == receipt.RolledBack })
	tamper := filter(ev.applies, tampered)
	later := map[string][]time.Time{} // zone + host + name + channel → applied times
	for _, x := range ev.applies {
		if x.result == receipt.Applied {
			k := x.zone + "\x00" + x.chain + "\x00" + x.bundle.Name + "\x00" + x.bundle.Channel
			later[k] = append(later[k], x.started())
		}
	}
	responded := 0
	var waits []time.Duration
	for _, f := range failed {
		k := f.zone + "\x00" + f.chain + "\x00" + f.bundle.Name + "\x00" + f.bundle.Channel
		i := slices.IndexFunc(later[k], func(t time.Time) bool { return t.After(f.started()) })
		if i < 0 {
			row.lack(fmt.Sprintf("%s#%d %s", f.zone, f.seq, f.file))
			continue
		}
		responded++
		waits = append(waits, later[k][i].Sub(f.started()))
	}
	acked := 0
	for _, x := range tamper {
		if ev.acked[x.file] {
			acked++
		} else {
			row.lack(fmt.Sprintf("%s#%d %s (tampering, not acknowledged)", x.zone, x.seq, x.file))
		}
	}
	if len(ev.entries) == 0 {
		row.Status, row.Evidence = StatusMissing, "no entry in the report window"
		return row
	}
	row.Evidence = fmt.Sprintf("%d of %d failed applies followed by a successful apply", responded, len(failed))
	if len(failed) == 0 {
		row.Evidence = "no apply failed in the report window"
	}
	if len(waits) > 0 {
		slices.Sort(waits)
		row.Evidence += fmt.Sprintf(" (median %s later)", humanDuration(waits[len(waits)/2]))
	}
	if len(tamper) == 0 {
		row.Evidence += "; no tampering refusal"
	} else {
		row.Evidence += fmt.Sprintf("; %d of %s acknowledged by the auditor", acked, plural(len(tamper), "tampering refusal", "tampering refusals"))
	}
	row.judge(false, responded < len(failed) || acked < len(tamper))
	return row.beyond(row.Ask)
}

// origination is 10.2.2 origination: every entry names its host and
// receipt key; and host identity is checked — each host's chain signed
// with that host's own keys — only against a zone register, so a zone of
// several hosts audited without one needs attention.
func (ev *evidence) origination() EvidenceRow {
	row := count("10.2.2 origination", "where the event came from",
		"host.name, applier.version and sha256, key of the receipt signature; the zone register (--zone-register): which key is which host's",
		ev.entries, func(x *record) bool { return x.host != "" && x.keyID != "" }, "name their host and receipt key", "")
	if n := ev.findings[KindHostUnchecked]; n > 0 {
		row.Evidence += fmt.Sprintf("; attention: host identity not checked in %s of several hosts (no --zone-register: which key is which host's is not known)",
			plural(n, "zone", "zones"))
		if row.Status == StatusOK {
			row.Status = StatusAttention
		}
	}
	return row
}

// identities is 8.2.1 and 8.2.2: each change attributed to one person, by
// a co-signature with an operator key the policy names (or a personal
// account), never to a shared account.
func (ev *evidence) identities(attributable []*record) EvidenceRow {
	row := count("8.2.1, 8.2.2 unique IDs, no shared accounts", "every user has a unique ID; group, shared or generic accounts are not used to make changes",
		"operator.key (a co-signature by an operator key trust.yaml names, with the person's name), operator.user and uid; bundle.signers[] (release and approve keys with names)",
		attributable, func(x *record) bool { return x.attributed && (!x.shared || namedCoSignature(x)) },
		"attributed to one person: a personal account, or a shared one (root) with a named operator's co-signature", "")
	named := len(filter(attributable, namedCoSignature))
	if len(attributable) > 0 {
		row.Evidence += fmt.Sprintf("; %d co-signed with a named operator key", named)
	}
	return row.beyond("the records that each key and account is issued to one person (key issuance, the hosts' account management), " +
		"and that the keys are not shared: receipts show which key co-signed, not who holds it")
}

// namedCoSignature reports whether an entry is co-signed with an operator
// key the policy in force names.
func namedCoSignature(x *record) bool {
	if x.operator.Key == nil || !x.coSigned {
		return false
	}
	_, ok := x.policy.OperatorName(x.operator.Key.KeyID)
	return ok
}

// identityChanges is 8.2.4: operators and signing keys added, removed or
// renamed are committed policy changes, each attributed to a person;
// changes that ran uncommitted are not.
func (ev *evidence) identityChanges() EvidenceRow {
	row := EvidenceRow{Req: "8.2.4 user IDs added, deleted and modified", Asks: "additions, deletions and modifications of user IDs and credentials are authorised and managed",
		Fields: "policy commits (event policy): policyChange.changes[] of kind operator-added, operator-removed, operator-renamed, key-added, key-removed, key-renamed; who committed them",
		Ask: "the authorisation of each change (its ticket and approver) and the management of the hosts' OS accounts: " +
			"receipts show who committed a change of airlock's keys and operators, not who authorised it"}
	var changes, unattributed int
	for _, x := range ev.entries {
		if x.event != receipt.EventPolicy {
			continue
		}
		n := 0
		for _, d := range x.extra().change.Changes {
			switch d.Kind {
			case zone.DiffOperatorAdded, zone.DiffOperatorFirst, zone.DiffOperatorRemoved, zone.DiffOperatorRenamed, zone.DiffKeyAdded, zone.DiffKeyRemoved, zone.DiffKeyRenamed:
				n++
			}
		}
		changes += n
		if n > 0 && !x.attributed {
			unattributed++
			row.lack(fmt.Sprintf("%s#%d %s (not attributed)", x.zone, x.seq, x.file))
		}
	}
	uncommitted := ev.findings[KindPolicyUncommitted]
	oneperson := ev.findings[KindTwoPersonMissing]
	row.Evidence = fmt.Sprintf("%s added, removed or renamed by committed policy changes, %d of those commits not attributed to a person; %s; %s",
		plural(changes, "operator or signing key", "operators or signing keys"), unattributed,
		plural(uncommitted, "policy change that ran uncommitted", "policy changes that ran uncommitted"),
		plural(oneperson, "weakening committed by one person where two were required", "weakenings committed by one person where two were required"))
	row.judge(len(ev.entries) == 0, unattributed > 0 || uncommitted > 0 || oneperson > 0)
	return row.beyond(row.Ask)
}

// separated reports whether an apply's approve signature comes from a key
// other than its release signature, and the operator who co-signed is
// neither signer.
func separated(x *record) bool {
	approvers := x.bundle.Approvers()
	if len(approvers) == 0 {
		return false
	}
	for _, s := range x.bundle.Signers {
		if s.Role != "approve" && slices.Contains(approvers, s.KeyID) {
			return false
		}
		if k := x.operator.Key; k != nil && (k.KeyID == s.KeyID || (k.Name != "" && k.Name == s.Name)) {
			return false
		}
	}
	return true
}

// humanDuration writes a duration in days, hours and minutes.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	days, rest := d/(24*time.Hour), d%(24*time.Hour)
	h, m := rest/time.Hour, rest%time.Hour/time.Minute
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, h, m)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}
