package subst

import (
	"bytes"
	"fmt"
	"strings"
)

// maxDepth bounds how deeply blocks nest.
const maxDepth = 100

// template is a parsed template: its nodes and the variable references they
// make, in order.
type template struct {
	nodes []node
	refs  []Ref
}

type nodeKind uint8

const (
	textNode nodeKind = iota // literal text
	exprNode                 // #{Name | Filter …}
	ifNode                   // #{if}/#{unless} … #{elseif} … #{else} … #{/if}
	eachNode                 // #{each item in List} … #{/each}
)

// node is one piece of a template.
type node struct {
	kind  nodeKind
	text  []byte   // textNode
	expr  *expr    // exprNode; eachNode: the list
	cases []ifCase // ifNode: the conditions in order, then an else with cond nil
	body  []node   // eachNode
}

// ifCase is one branch of an if: its body runs when cond holds (cond is nil
// for the final #{else}).
type ifCase struct {
	cond *cond
	body []node
}

// cond is a condition: the truth of left (op 0), or left == right, or
// left != right.
type cond struct {
	left, right operand
	op          string // "", "==" or "!="
	negate      bool   // #{unless}
}

// operand is "quoted text" (expr nil) or an expression.
type operand struct {
	text string
	expr *expr
}

// expr is a value and the filters applied to it in order. The value is the
// variable name, or, when loop >= 0, the current item or a helper of the
// enclosing #{each} block number loop (0 is the outermost).
type expr struct {
	name    string
	loop    int
	helper  string // "" (the item), "Index", "First" or "Last"
	filters []filterFunc
}

// frame is a block being parsed.
type frame struct {
	kw        string // "if", "unless", "each"; "" for the template itself
	node      *node
	body      *[]node // where nodes go now
	open      string  // the opening tag, quoted for messages
	line, col int
	loopVar   string // each
	sawElse   bool
}

// parser holds the state of one parse.
type parser struct {
	src    []byte
	c      cursor
	stack  []*frame
	refs   []Ref
	tagPos int // offset of the tag being parsed
	tagEnd int // one past its end
	line   int // its position
	col    int
}

// parse parses src in one pass. Errors are *SyntaxError.
func parse(src []byte) (*template, error) {
	root := &frame{}
	root.body = new([]node)
	p := &parser{src: src, stack: []*frame{root}}
	start := 0 // start of the literal text not yet added
	for k := 0; ; {
		h := bytes.IndexByte(src[k:], '#')
		if h < 0 {
			break
		}
		at := k + h
		switch {
		case bytes.HasPrefix(src[at:], []byte("##{")):
			// Escape: keep the first '#', drop the second, go on after '{'.
			p.text(src[start : at+1])
			start, k = at+2, at+3
		case bytes.HasPrefix(src[at:], []byte("#{")):
			p.text(src[start:at])
			end, err := p.parseTag(at)
			if err != nil {
				return nil, err
			}
			start, k = end+1, end+1
		default:
			k = at + 1
		}
	}
	p.text(src[start:])
	if top := p.top(); top.kw != "" {
		return nil, &SyntaxError{Line: top.line, Col: top.col, Msg: fmt.Sprintf("%s is not closed (want #{/%s})", top.open, top.kw)}
	}
	return &template{nodes: *root.body, refs: p.refs}, nil
}

func (p *parser) top() *frame { return p.stack[len(p.stack)-1] }

// text adds literal text to the current block.
func (p *parser) text(b []byte) {
	if len(b) > 0 {
		p.add(node{kind: textNode, text: b})
	}
}

func (p *parser) add(n node) {
	body := p.top().body
	*body = append(*body, n)
}

// parseTag parses the tag whose "#{" is at offset at and returns the offset of its
// closing '}'.
func (p *parser) parseTag(at int) (int, error) {
	src := p.src
	end := at + 2
	for end < len(src) && src[end] != '}' && src[end] != '\n' {
		end++
	}
	if end < len(src) && src[end] == '}' && quoted(src[at+2:end]) {
		end = quotedEnd(src, at+2, end)
	}
	p.tagPos, p.tagEnd = at, min(end+1, len(src))
	p.line, p.col = p.c.pos(src, at)
	content := src[at+2 : min(end, len(src))]
	switch {
	case end == len(src) || src[end] == '\n':
		return 0, p.fail("unterminated reference %s", p.tag())
	case len(content) == 0:
		return 0, p.fail("empty reference %s", p.tag())
	case validName(content):
		return end, p.bare(string(content))
	case content[0] == '/':
		return end, p.close(string(content[1:]))
	case content[0] == ' ' || content[0] == '\t':
		return 0, p.invalid()
	}
	kw := keyword(content)
	if kw == "" && !bytes.ContainsRune(content, '|') {
		return 0, p.invalid()
	}
	toks, err := p.tokens(content, at+2)
	if err != nil {
		return 0, err
	}
	switch kw {
	case "if", "unless":
		return end, p.open(kw, toks[1:])
	case "elseif":
		return end, p.elseif(toks[1:])
	case "each":
		return end, p.each(toks[1:])
	}
	e, rest, err := p.expr(toks)
	if err != nil {
		return 0, err
	}
	if len(rest) > 0 {
		return 0, p.unexpected(rest[0])
	}
	p.add(node{kind: exprNode, expr: e})
	return end, nil
}

// quoted reports whether content, up to the first '}', is a filter or
// block tag with "quoted text", which may hold a '}'.
func quoted(content []byte) bool {
	if !bytes.ContainsRune(content, '"') {
		return false
	}
	return bytes.ContainsRune(content, '|') || keyword(content) != ""
}

// keyword returns the keyword that starts a block tag's content (if,
// unless, elseif or each, followed by a space or tab), or "".
func keyword(content []byte) string {
	i := bytes.IndexAny(content, " \t")
	if i < 0 {
		return ""
	}
	switch kw := string(content[:i]); kw {
	case "if", "unless", "elseif", "each":
		return kw
	}
	return ""
}

// quotedEnd returns the offset of the first '}' after from that is outside
// "quoted text", or end (the first '}') if there is none on the line.
func quotedEnd(src []byte, from, end int) int {
	in := false
	for i := from; i < len(src) && src[i] != '\n'; i++ {
		switch {
		case src[i] == '"':
			in = !in
		case src[i] == '}' && !in:
			return i
		}
	}
	return end
}

// bare handles a tag that is a single name: a reference, or #{else}.
func (p *parser) bare(name string) error {
	switch name {
	case "else":
		return p.elseTag()
	case "if", "unless", "elseif":
		return p.fail("%s needs a condition, as in #{%s Name}", p.tag(), name)
	case "each":
		return p.fail("%s needs a loop, as in #{each item in List}", p.tag())
	}
	e, err := p.resolve(name, p.tagPos+2)
	if err != nil {
		return err
	}
	p.add(node{kind: exprNode, expr: e})
	return nil
}

// open starts an #{if} or #{unless} block.
func (p *parser) open(kw string, toks []token) error {
	c, err := p.cond(toks)
	if err != nil {
		return err
	}
	c.negate = kw == "unless"
	n := &node{kind: ifNode, cases: []ifCase{{cond: c}}}
	return p.push(&frame{kw: kw, node: n, body: &n.cases[0].body})
}

func (p *parser) push(f *frame) error {
	if len(p.stack) > maxDepth {
		return p.fail("blocks nested more than %d deep", maxDepth)
	}
	f.open, f.line, f.col = p.tag(), p.line, p.col
	p.stack = append(p.stack, f)
	return nil
}

// elseif adds a branch to the current #{if}.
func (p *parser) elseif(toks []token) error {
	f := p.top()
	switch {
	case f.kw == "unless":
		return p.fail("%s is not allowed in %s at line %d:%d (only #{if} has #{elseif})", p.tag(), f.open, f.line, f.col)
	case f.kw != "if":
		return p.fail("%s outside #{if}", p.tag())
	case f.sawElse:
		return p.fail("%s after the #{else} of %s at line %d:%d", p.tag(), f.open, f.line, f.col)
	}
	c, err := p.cond(toks)
	if err != nil {
		return err
	}
	f.node.cases = append(f.node.cases, ifCase{cond: c})
	f.body = &f.node.cases[len(f.node.cases)-1].body
	return nil
}

// elseTag starts the last branch of the current #{if} or #{unless}.
func (p *parser) elseTag() error {
	f := p.top()
	switch {
	case f.kw != "if" && f.kw != "unless":
		return p.fail("%s outside #{if} or #{unless}", p.tag())
	case f.sawElse:
		return p.fail("second %s in %s at line %d:%d", p.tag(), f.open, f.line, f.col)
	}
	f.sawElse = true
	f.node.cases = append(f.node.cases, ifCase{})
	f.body = &f.node.cases[len(f.node.cases)-1].body
	return nil
}

// each starts an #{each item in List} block.
func (p *parser) each(toks []token) error {
	const want = "want #{each item in List}"
	if len(toks) != 3 || toks[0].kind != wordTok || toks[1].kind != wordTok || toks[2].kind != wordTok || !strings.EqualFold(toks[1].text, "in") {
		return p.fail("%s: %s", p.tag(), want)
	}
	v := toks[0].text
	if !validLoopVar(v) {
		return p.failAt(toks[0].off, "invalid loop variable %q in %s (want a name such as item)", v, p.tag())
	}
	list, err := p.name(toks[2])
	if err != nil {
		return err
	}
	n := &node{kind: eachNode, expr: list}
	return p.push(&frame{kw: "each", node: n, body: &n.body, loopVar: v})
}

// close ends the current block with #{/kw}.
func (p *parser) close(kw string) error {
	if kw != "if" && kw != "unless" && kw != "each" {
		return p.fail("unknown closing tag %s (want #{/if}, #{/unless} or #{/each})", p.tag())
	}
	f := p.top()
	switch {
	case f.kw == "":
		return p.fail("%s without a matching #{%s}", p.tag(), kw)
	case f.kw != kw:
		return p.fail("%s does not close %s at line %d:%d (want #{/%s})", p.tag(), f.open, f.line, f.col, f.kw)
	}
	p.stack = p.stack[:len(p.stack)-1]
	p.add(*f.node)
	return nil
}

// cond parses a condition: operand, or operand == operand, or operand !=
// operand.
func (p *parser) cond(toks []token) (*cond, error) {
	left, rest, err := p.operand(toks)
	if err != nil {
		return nil, err
	}
	c := &cond{left: left}
	if len(rest) == 0 {
		return c, nil
	}
	if rest[0].kind != opTok {
		return nil, p.unexpected(rest[0])
	}
	c.op = rest[0].text
	if len(rest) == 1 {
		return nil, p.failAt(rest[0].off, "missing a name or \"text\" after %s in %s", c.op, p.tag())
	}
	c.right, rest, err = p.operand(rest[1:])
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, p.unexpected(rest[0])
	}
	return c, nil
}

// operand parses "quoted text" or an expression.
func (p *parser) operand(toks []token) (operand, []token, error) {
	if len(toks) > 0 && toks[0].kind == quotedTok {
		return operand{text: toks[0].text}, toks[1:], nil
	}
	e, rest, err := p.expr(toks)
	return operand{expr: e}, rest, err
}

// expr parses Name | Filter arg … | Filter … and returns the tokens after it.
func (p *parser) expr(toks []token) (*expr, []token, error) {
	if len(toks) == 0 {
		return nil, nil, p.fail("missing a name in %s", p.tag())
	}
	if toks[0].kind != wordTok {
		return nil, nil, p.unexpected(toks[0])
	}
	e, err := p.name(toks[0])
	if err != nil {
		return nil, nil, err
	}
	toks = toks[1:]
	for len(toks) > 0 && toks[0].kind == pipeTok {
		if len(toks) == 1 || toks[1].kind != wordTok {
			return nil, nil, p.failAt(toks[0].off, "missing a filter name after \"|\" in %s", p.tag())
		}
		fn := toks[1]
		toks = toks[2:]
		var args []string
		for len(toks) > 0 && (toks[0].kind == wordTok || toks[0].kind == quotedTok) {
			args = append(args, toks[0].text)
			toks = toks[1:]
		}
		f, err := newFilter(fn.text, args)
		if err != nil {
			return nil, nil, p.failAt(fn.off, "%s: %v", p.tag(), err)
		}
		e.filters = append(e.filters, f)
	}
	return e, toks, nil
}

// name resolves the name token t.
func (p *parser) name(t token) (*expr, error) {
	if !validName([]byte(t.text)) {
		return nil, p.failAt(t.off, "invalid name %q in %s (want a name such as Port or Airlock.Release.Version)", t.text, p.tag())
	}
	return p.resolve(t.text, t.off)
}

// resolve turns a valid name at offset off into a variable reference (and
// records it) or a loop value.
func (p *parser) resolve(name string, off int) (*expr, error) {
	head, _, dotted := strings.Cut(name, ".")
	for i := len(p.stack) - 1; i >= 0; i-- {
		if f := p.stack[i]; f.kw == "each" && f.loopVar == head {
			if dotted {
				return nil, p.failAt(off, "loop variable %s has no fields (%s)", head, p.tag())
			}
			return &expr{loop: p.loopIndex(i)}, nil
		}
	}
	helper, isHelper := strings.CutPrefix(name, "each.")
	if !isHelper {
		helper, isHelper = strings.CutPrefix(name, "Octopus.Template.Each.")
	}
	if isHelper {
		if helper != "Index" && helper != "First" && helper != "Last" {
			return nil, p.failAt(off, "unknown loop value %s in %s (want each.Index, each.First or each.Last)", name, p.tag())
		}
		for i := len(p.stack) - 1; i >= 0; i-- {
			if p.stack[i].kw == "each" {
				return &expr{loop: p.loopIndex(i), helper: helper}, nil
			}
		}
		return nil, p.failAt(off, "%s outside #{each} (%s)", name, p.tag())
	}
	p.refs = append(p.refs, Ref{Name: name, Line: p.line, Col: p.col})
	return &expr{name: name, loop: -1}, nil
}

// loopIndex returns the number of #{each} blocks enclosing stack entry i.
func (p *parser) loopIndex(i int) int {
	n := 0
	for _, f := range p.stack[:i] {
		if f.kw == "each" {
			n++
		}
	}
	return n
}

// validLoopVar reports whether v can name a loop variable: a name without
// dots that is not a keyword.
func validLoopVar(v string) bool {
	switch v {
	case "if", "unless", "elseif", "else", "each", "in":
		return false
	}
	return validName([]byte(v)) && !strings.Contains(v, ".")
}

type tokenKind uint8

const (
	wordTok   tokenKind = iota // a name, filter or bare argument
	quotedTok                  // "text", without the quotes
	pipeTok                    // |
	opTok                      // == or !=
)

// token is one word of a tag; off is its offset in the template.
type token struct {
	kind tokenKind
	text string
	off  int
}

// tokens splits the content of a tag, which starts at offset base, into
// tokens separated by spaces and tabs.
func (p *parser) tokens(content []byte, base int) ([]token, error) {
	var toks []token
	for i := 0; i < len(content); {
		c := content[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '|':
			toks = append(toks, token{pipeTok, "|", base + i})
			i++
		case c == '"':
			j := bytes.IndexByte(content[i+1:], '"')
			if j < 0 {
				return nil, p.failAt(base+i, "unterminated \"text\" in %s", p.tag())
			}
			toks = append(toks, token{quotedTok, string(content[i+1 : i+1+j]), base + i})
			i += j + 2
		case isOp(content[i:]):
			toks = append(toks, token{opTok, string(content[i : i+2]), base + i})
			i += 2
		default:
			j := i
			for j < len(content) && !bytes.ContainsRune([]byte(" \t|\""), rune(content[j])) && !isOp(content[j:]) {
				j++
			}
			toks = append(toks, token{wordTok, string(content[i:j]), base + i})
			i = j
		}
	}
	return toks, nil
}

func isOp(b []byte) bool {
	return len(b) >= 2 && (b[0] == '=' || b[0] == '!') && b[1] == '='
}

// fail returns a syntax error at the current tag.
func (p *parser) fail(format string, args ...any) error {
	return &SyntaxError{Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

// failAt returns a syntax error at offset off of the current tag.
func (p *parser) failAt(off int, format string, args ...any) error {
	line, col := p.c.pos(p.src, off)
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) unexpected(t token) error {
	if t.kind == quotedTok {
		return p.failAt(t.off, "unexpected \"text\" in %s", p.tag())
	}
	return p.failAt(t.off, "unexpected %q in %s", t.text, p.tag())
}

// tag returns the text of the current tag, quoted for a message.
func (p *parser) tag() string { return quote(p.src[p.tagPos:p.tagEnd]) }

func (p *parser) invalid() error {
	return p.fail("invalid reference %s (want a name such as Port or Airlock.Release.Version)", p.tag())
}
