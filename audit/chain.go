package audit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// node is a receipt in its zone's chain graph. Each receipt names at most
// one predecessor, so the graph is a forest: roots are seq 1 receipts and
// receipts whose predecessor is missing; a node with two children is a fork.
type node struct {
	a        *record
	parent   *node
	children []*node
}

// chainHosts sorts a zone's receipts into chains, one per host: the
// receipts linked to one another (a receipt and the one it names as its
// predecessor are of one chain) form a chain, named by the host its
// newest receipt names (a host renamed by a committed policy keeps its
// chain). Chains that name the same host are one host's chain, which the
// analysis then finds broken (a restart, a gap). It sets each record's
// chain and returns the records by host.
func chainHosts(rs []*record) map[string][]*record {
	bySHA := make(map[digest]*record, len(rs))
	for _, r := range rs {
		bySHA[r.link] = r
	}
	// root of each record, by following predecessors once per record
	// (path compression) and stopping at a cycle.
	root := make(map[*record]*record, len(rs))
	for _, r := range rs {
		var path []*record
		at, seen := r, map[*record]bool{}
		for root[at] == nil && !seen[at] {
			seen[at] = true
			path = append(path, at)
			p := bySHA[at.prev]
			if !at.hasPrev || p == nil {
				break
			}
			at = p
		}
		top := root[at]
		if top == nil {
			top = at
		}
		for _, x := range path {
			root[x] = top
		}
	}
	head := map[*record]*record{} // root → newest receipt of its chain
	for _, r := range rs {
		if h := head[root[r]]; h == nil || newer(r, h) {
			head[root[r]] = r
		}
	}
	out := map[string][]*record{}
	for _, r := range rs {
		r.chain = head[root[r]].host
		out[r.chain] = append(out[r.chain], r)
	}
	return out
}

// newer reports whether r is a newer head than h: a higher seq, or the
// same seq started later.
func newer(r, h *record) bool {
	return r.seq > h.seq || (r.seq == h.seq && r.started().After(h.started()))
}

// chain is the result of analysing one zone.
type chain struct {
	order    []*record // chain order: roots by start time, then depth first
	findings []Finding
}

// analyzeChain orders one zone's distinct verified receipts by their links
// and reports gaps, forks, reorderings and restarts. rejectedClaims maps a
// seq to the files that claim it for this zone but failed verification,
// which gap messages mention.
func analyzeChain(zone string, applies []*record, rejectedClaims map[uint64][]string) chain {
	nodes := make([]node, len(applies))
	bySHA := make(map[digest]*node, len(applies))
	for i, a := range applies {
		nodes[i] = node{a: a}
		bySHA[a.link] = &nodes[i]
	}
	var roots []*node
	for i := range nodes {
		n := &nodes[i]
		if p := bySHA[n.a.prev]; n.a.hasPrev && p != nil {
			n.parent = p
			p.children = append(p.children, n)
		} else {
			roots = append(roots, n)
		}
	}
	for i := range nodes {
		slices.SortFunc(nodes[i].children, bySeqThenTime)
	}
	slices.SortFunc(roots, byTimeThenSeq)

	seqs := make([]uint64, len(applies))
	for i, a := range applies {
		seqs[i] = a.seq
	}
	slices.Sort(seqs)

	c := chain{}
	c.findings = append(c.findings, forks(zone, nodes)...)
	c.findings = append(c.findings, restartsAndGaps(zone, roots, seqs, applies, rejectedClaims)...)
	order := walk(roots)
	c.findings = append(c.findings, linkFindings(zone, order, seqs)...)
	if len(order) < len(nodes) {
		c.findings = append(c.findings, cycles(zone, nodes, order)...)
	}
	c.order = make([]*record, len(order))
	for i, n := range order {
		c.order[i] = n.a
	}
	return c
}

func bySeqThenTime(x, y *node) int {
	return cmp.Or(cmp.Compare(x.a.seq, y.a.seq), x.a.started().Compare(y.a.started()), cmp.Compare(x.a.file, y.a.file))
}

func byTimeThenSeq(x, y *node) int {
	return cmp.Or(x.a.started().Compare(y.a.started()), cmp.Compare(x.a.seq, y.a.seq), cmp.Compare(x.a.file, y.a.file))
}

// walk returns the nodes reachable from roots, depth first, children in
// seq order.
func walk(roots []*node) []*node {
	var order []*node
	stack := slices.Clone(roots)
	slices.Reverse(stack)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		order = append(order, n)
		for i := len(n.children) - 1; i >= 0; i-- {
			stack = append(stack, n.children[i])
		}
	}
	return order
}

// forks reports every receipt named as predecessor by more than one receipt.
func forks(zone string, nodes []node) []Finding {
	var out []Finding
	for i := range nodes {
		p := &nodes[i]
		if len(p.children) < 2 {
			continue
		}
		names := make([]string, len(p.children))
		var related []string
		for i, ch := range p.children {
			names[i] = fmt.Sprintf("seq %d in %s", ch.a.seq, ch.a.file)
			if i != 1 {
				related = append(related, ch.a.file)
			}
		}
		second := p.children[1]
		f := newFinding(KindFork, zone, second.a.seq, second.a.file,
			"the chain forks: %d receipts name seq %d (%s) as their predecessor: %s",
			len(p.children), p.a.seq, p.a.file, strings.Join(names, ", "))
		f.Related = append(related, p.a.file)
		out = append(out, f)
	}
	return out
}

// restartsAndGaps reports roots other than the zone's first seq 1 receipt:
// a later seq 1 is a restart, a receipt whose predecessor is missing is a
// gap.
func restartsAndGaps(zone string, roots []*node, seqs []uint64, applies []*record, rejectedClaims map[uint64][]string) []Finding {
	var out []Finding
	var origin *node
	for _, r := range roots {
		a := r.a
		if !a.hasPrev {
			if origin == nil {
				origin = r
				continue
			}
			f := newFinding(KindRestart, zone, a.seq, a.file,
				"the chain restarts: a new seq 1 (started %s) while the zone's chain already began with seq 1 in %s (started %s)",
				stamp(a.started()), origin.a.file, stamp(origin.a.started()))
			f.Related = []string{origin.a.file}
			out = append(out, f)
			continue
		}
		out = append(out, gapFinding(zone, a, seqs, applies, rejectedClaims))
	}
	return out
}

// gapFinding describes the receipt(s) missing before a, whose predecessor
// is not in the folder.
func gapFinding(zone string, a *record, seqs []uint64, applies []*record, rejectedClaims map[uint64][]string) Finding {
	// lower is the highest seq below a.seq present in the zone (0: none).
	i, _ := slices.BinarySearch(seqs, a.seq)
	var lower uint64
	if i > 0 {
		lower = seqs[i-1]
	}
	prev := short(a.prev.String())
	var f Finding
	if lower+1 < a.seq {
		f = newFinding(KindGap, zone, a.seq, a.file,
			"missing %s: seq %d names a previous receipt (sha256 %s) that is not in the folder",
			seqRange(lower+1, a.seq-1), a.seq, prev)
	} else {
		var others []string
		for _, o := range applies {
			if o.seq == lower {
				others = append(others, o.file)
			}
		}
		f = newFinding(KindGap, zone, a.seq, a.file,
			"missing receipt: seq %d names a previous receipt (sha256 %s) that is not in the folder; the seq %d receipt here (%s) is a different one",
			a.seq, prev, lower, strings.Join(others, ", "))
		f.Related = others
	}
	if files, notes := claimedBetween(rejectedClaims, lower+1, a.seq-1); len(files) > 0 {
		f.Message += "; failed verification: " + strings.Join(notes, ", ")
		f.Related = append(f.Related, files...)
	}
	return f
}

// claimedBetween lists rejected files claiming a seq in [lo, hi], by seq,
// as file names and as "file (claims seq N)" notes.
func claimedBetween(rejectedClaims map[uint64][]string, lo, hi uint64) (files, notes []string) {
	var seqs []uint64
	for s := range rejectedClaims {
		if s >= lo && s <= hi {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		for _, f := range rejectedClaims[s] {
			files = append(files, f)
			notes = append(notes, fmt.Sprintf("%s (claims seq %d)", f, s))
		}
	}
	return files, notes
}

// linkFindings checks each link of the chain order. A link is in step
// when the receipt's seq is its predecessor's seq + 1. A run of
// consecutive out-of-step links on one path is one finding: a gap when it
// is a single forward jump over seqs that no receipt of the zone has (the
// numbering skipped), a reorder otherwise. A link in step whose receipt
// started before its predecessor is a reorder too, unless the receipt
// records a clock-override (the operator applied knowing the zone clock was
// behind): that is reported as the override it is.
func linkFindings(zone string, order []*node, seqs []uint64) []Finding {
	var out []Finding
	var run []*node
	flush := func() {
		if len(run) > 0 {
			out = append(out, runFinding(zone, run, seqs))
			run = nil
		}
	}
	for _, n := range order {
		p := n.parent
		if p == nil {
			flush()
			continue
		}
		if n.a.seq != p.a.seq+1 {
			if len(run) > 0 && run[len(run)-1] != p {
				flush()
			}
			run = append(run, n)
			continue
		}
		flush()
		overridden := slices.Contains(n.a.extra().overrides, "clock-override")
		if n.a.started().Before(p.a.started()) && !overridden {
			f := newFinding(KindReorder, zone, n.a.seq, n.a.file,
				"seq %d started %s, before its predecessor seq %d (%s) started %s: the receipts were not written in chain order or the zone clock went back",
				n.a.seq, stamp(n.a.started()), p.a.seq, p.a.file, stamp(p.a.started()))
			f.Related = []string{p.a.file}
			out = append(out, f)
		} else if n.a.fin != 0 && p.a.fin != 0 && n.a.fin < p.a.fin && !n.a.finishedBeforeStart() && !overridden {
			// (One that finished before it started is reported by itself.)
			f := newFinding(KindClockBackwards, zone, n.a.seq, n.a.file,
				"seq %d finished %s, before its predecessor seq %d (%s) finished %s: the zone clock went back",
				n.a.seq, stampNano(n.a.finished()), p.a.seq, p.a.file, stampNano(p.a.finished()))
			f.Related = []string{p.a.file}
			out = append(out, f)
		}
	}
	flush()
	return out
}

func runFinding(zone string, run []*node, seqs []uint64) Finding {
	p := run[0].parent
	first := run[0].a
	if len(run) == 1 && first.seq > p.a.seq+1 && !anyBetween(seqs, p.a.seq+1, first.seq-1) {
		f := newFinding(KindGap, zone, first.seq, first.file,
			"seq %d names seq %d (%s) as its predecessor: %s never written",
			first.seq, p.a.seq, p.a.file, seqRange(p.a.seq+1, first.seq-1))
		f.Related = []string{p.a.file}
		return f
	}
	// The path shows every seq; the out-of-order list leaves out a last
	// receipt that just continues from the highest seq before it.
	path := []string{fmt.Sprint(p.a.seq)}
	high := p.a.seq
	out := run
	for i, n := range run {
		path = append(path, fmt.Sprint(n.a.seq))
		if i == len(run)-1 && len(run) > 1 && n.a.seq == high+1 {
			out = run[:i]
		}
		high = max(high, n.a.seq)
	}
	var related []string
	for _, n := range out[1:] {
		related = append(related, n.a.file)
	}
	f := newFinding(KindReorder, zone, first.seq, first.file,
		"chain order %s disagrees with seq order: %s linked out of order",
		strings.Join(path, " → "), filesOf(out))
	f.Related = related
	return f
}

func anyBetween(sorted []uint64, lo, hi uint64) bool {
	i, _ := slices.BinarySearch(sorted, lo)
	return i < len(sorted) && sorted[i] <= hi
}

func filesOf(ns []*node) string {
	fs := make([]string, len(ns))
	for i, n := range ns {
		fs[i] = n.a.file
	}
	return strings.Join(fs, ", ")
}

// cycles reports receipts not reachable from any root. Every receipt has a
// single predecessor, so these can only be receipts whose links form a
// cycle — impossible with SHA-256 links unless the hash is broken, but the
// walk must not rely on it.
func cycles(zone string, nodes []node, order []*node) []Finding {
	seen := make(map[*node]bool, len(order))
	for _, n := range order {
		seen[n] = true
	}
	var out []Finding
	for i := range nodes {
		n := &nodes[i]
		if !seen[n] {
			out = append(out, newFinding(KindReorder, zone, n.a.seq, n.a.file,
				"seq %d cannot be reached from the start of the chain: its predecessors form a cycle", n.a.seq))
		}
	}
	return out
}

func seqRange(lo, hi uint64) string {
	if lo == hi {
		return fmt.Sprintf("receipt seq %d", lo)
	}
	return fmt.Sprintf("receipts seq %d–%d", lo, hi)
}

// short abbreviates a hex digest for messages.
func short(hex string) string {
	if len(hex) > 12 {
		return hex[:12] + "…"
	}
	return hex
}

// stamp formats a time for messages and tables.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// stampNano is stamp with the fraction of a second: two times that the
// clock put in the wrong order may lie within one second.
func stampNano(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999999Z")
}
