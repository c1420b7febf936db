package audit

import (
	"fmt"
	"maps"
	"slices"

	"airlock.dev/airlock/receipt"
)

// people attributes every apply and policy commit to a person (PCI DSS
// 8.2.1, 10.2.2 user identification). An entry is attributed when
//
//   - the operator co-signed it with a key the policy in force lists under
//     operators, with that person's name; or
//   - it ran under a personal account: not root (uid 0) and not shared —
//     an account is shared when the folder shows it used under more than
//     one person's name (--operator, sudo, login); or
//   - the kernel's login uid names another, non-root account behind it
//     (sudo or su from a personal login).
//
// Otherwise a change (steps ran, or a policy commit) is an error
// (unattributed) and an attempt (refused, already applied) a warning
// (unattributed-attempt): a free-text --operator is not a signature.
func (a *auditor) people() {
	type account struct{ host, uid string }
	names := map[account]map[string]bool{}
	for _, r := range a.records {
		o := r.operator
		acc := account{r.host, o.UID}
		if names[acc] == nil {
			names[acc] = map[string]bool{}
		}
		for _, n := range []string{o.Name, o.SudoUser, o.LoginUser} {
			if n != "" && n != o.User {
				names[acc][n] = true
			}
		}
		if o.Key != nil && r.coSigned {
			names[acc][o.Key.Name] = true
		}
	}
	for _, z := range slices.Sorted(maps.Keys(a.zones)) {
		for _, r := range a.zones[z] {
			if r.event == receipt.EventGenesis {
				r.attributed = true
				continue
			}
			r.shared = len(names[account{r.host, r.operator.UID}]) > 1
			r.attributed, _ = attribute(r, r.shared)
			if r.attributed || !a.opts.inWindow(r.started()) {
				continue
			}
			kind := KindUnattributedAttempt
			if r.ran() || r.event == receipt.EventPolicy {
				kind = KindUnattributed
			}
			a.findings = append(a.findings, newFinding(kind, r.zone, r.seq, r.file, "%s", r.person()))
		}
	}
}

// attribute decides whether r names its person, and says who (or why not).
func attribute(r *record, shared bool) (bool, string) {
	o := r.operator
	if o.Key != nil && r.coSigned {
		if name, ok := r.policy.OperatorName(o.Key.KeyID); ok {
			return true, fmt.Sprintf("%s (co-signed, key %s)", name, shortKey(o.Key.KeyID))
		}
	}
	root := o.UID == "0" || o.User == "root"
	login := numericUID(o.LoginUID)
	if login > 0 && o.LoginUID != o.UID {
		return true, fmt.Sprintf("%s (login uid %s, as %s)", orUID(o.LoginUser, o.LoginUID), o.LoginUID, o.User)
	}
	if !root && !shared {
		return true, fmt.Sprintf("%s (personal account, uid %s)", o.User, o.UID)
	}
	why := "the root account"
	if !root {
		why = fmt.Sprintf("account %s, which the folder shows used by several people", o.User)
	}
	msg := fmt.Sprintf("%s %s by %s without a named operator's co-signature", r.event, eventWhat(r), why)
	switch {
	case o.Key != nil && r.coSigned:
		msg += fmt.Sprintf(" (key %s co-signed it, but the policy in force lists no operator with that key)", shortKey(o.Key.KeyID))
	case o.Name != "":
		msg += fmt.Sprintf(" (--operator %q is not a signature)", o.Name)
	}
	if o.SudoUser != "" {
		msg += fmt.Sprintf("; sudo by %s", o.SudoUser)
	}
	return false, msg
}

func eventWhat(r *record) string {
	if r.event == receipt.EventPolicy {
		return "commit"
	}
	return fmt.Sprintf("of %s (%s)", bundleName(*r.bundle), r.result)
}

// personOf names the person of an entry for reports.
func personOf(r *record) string {
	o := r.operator
	if o.Key != nil && r.coSigned {
		return o.Key.Name
	}
	if o.Name != "" {
		return o.Name + " (" + o.User + ")"
	}
	return o.User
}

func orUID(name, uid string) string {
	if name == "" {
		return "uid " + uid
	}
	return name
}
