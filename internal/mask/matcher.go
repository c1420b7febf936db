package mask

import "slices"

// matcher finds the longest pattern starting at a position with a byte trie.
// A matcher is immutable once published, so writers use it without locks while
// Add prepares the next one.
//
// Scanning costs one table lookup for each byte that cannot start a pattern
// and a walk no longer than the longest pattern otherwise, so it is linear in
// the input for a fixed set of secrets.
type matcher struct {
	root   [256]int32 // node for each first byte; 0 means no pattern starts with it
	nodes  []node     // nodes[0] is unused so that 0 can mean "none"
	maxLen int
}

// node is a trie node; its children form a list through sibling. Nodes hold
// no pointers or slices, so copying the node slice copies the whole trie.
type node struct {
	child   int32 // first child, 0 if none
	sibling int32 // next child of the same parent, 0 if none
	b       byte  // the byte leading to this node
	end     bool  // a pattern ends here
}

func newMatcher() *matcher {
	return &matcher{nodes: make([]node, 1)}
}

// clone returns a copy that insert can change without affecting t.
func (t *matcher) clone() *matcher {
	c := *t
	c.nodes = slices.Clone(t.nodes)
	return &c
}

// insert adds p (not empty) and reports whether it was new.
func (t *matcher) insert(p string) bool {
	cur := t.root[p[0]]
	if cur == 0 {
		cur = t.newNode(p[0], 0)
		t.root[p[0]] = cur
	}
	for i := 1; i < len(p); i++ {
		next := t.child(cur, p[i])
		if next == 0 {
			next = t.newNode(p[i], t.nodes[cur].child)
			t.nodes[cur].child = next
		}
		cur = next
	}
	if t.nodes[cur].end {
		return false
	}
	t.nodes[cur].end = true
	t.maxLen = max(t.maxLen, len(p))
	return true
}

func (t *matcher) newNode(b byte, sibling int32) int32 {
	t.nodes = append(t.nodes, node{b: b, sibling: sibling})
	return int32(len(t.nodes) - 1)
}

func (t *matcher) child(n int32, b byte) int32 {
	for c := t.nodes[n].child; c != 0; c = t.nodes[c].sibling {
		if t.nodes[c].b == b {
			return c
		}
	}
	return 0
}

// longest returns the length of the longest pattern that is a prefix of b
// (0 if none; b is not empty). decided is false when b ends while it is still
// the prefix of a longer pattern and more input may follow (!final): the
// answer could then change with more input.
func (t *matcher) longest(b []byte, final bool) (n int, decided bool) {
	cur := t.root[b[0]]
	for i := 1; cur != 0; i++ {
		if t.nodes[cur].end {
			n = i
		}
		if t.nodes[cur].child == 0 {
			return n, true
		}
		if i == len(b) {
			return n, final
		}
		cur = t.child(cur, b[i])
	}
	return n, true
}

// mask appends b to dst with every match replaced and returns the number of
// bytes of b it consumed. Unless final, it stops at the first position whose
// match cannot be decided without more input; the caller keeps the rest, which
// is shorter than maxLen.
func (t *matcher) mask(dst, b []byte, final bool) ([]byte, int) {
	plain, p := 0, 0 // b[plain:p] is unmasked input not yet copied
	for p < len(b) {
		if t.root[b[p]] == 0 {
			p++
			continue
		}
		n, decided := t.longest(b[p:], final)
		if !decided {
			break
		}
		if n == 0 {
			p++
			continue
		}
		dst = append(dst, b[plain:p]...)
		dst = append(dst, Replacement...)
		p += n
		plain = p
	}
	return append(dst, b[plain:p]...), p
}
