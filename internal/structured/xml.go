package structured

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"airlock.dev/airlock/internal/escape"
)

// xnode is an element of an XML document with the byte ranges of its tags.
type xnode struct {
	name     xml.Name // Space is the namespace URI
	qname    string   // the name as written
	parent   *xnode
	children []*xnode
	attrs    []xattr
	order    int // position in document order
	pos      int // position among the siblings of the same name, from 1; 0 when it has none
	text     []byte

	start    int  // '<' of the start tag
	tagEnd   int  // just after the start tag's '>'
	tailFrom int  // self-closing: where the "/>" (and the space before it) starts
	end      int  // "</" of the end tag; tagEnd when self-closing
	endEnd   int  // just after the end tag
	selfEnd  bool // written as <name/>
	hasElems bool // has child elements
}

// xattr is an attribute and the byte range of its value, between quotes.
type xattr struct {
	name             xml.Name
	qname            string
	value            string // decoded
	valStart, valEnd int
}

// xdoc is a parsed XML document.
type xdoc struct {
	root     *xnode
	prefixes map[string]string // prefix → namespace URI, first declaration wins
}

// parseXML reads src into a tree. It refuses a DOCTYPE or any other <!…>
// declaration, so no entity other than the five predefined ones and
// character references is ever read, and anything but one root element with
// comments, processing instructions and white space around it. An element
// nested deeper than MaxDepth, or more than MaxNodes elements and
// attributes, is refused with limit's error (off: where).
func parseXML(src []byte, fail func(line, col int, format string, args ...any) error, limit func(limit string, max, off int) error, tick func() error) (*xdoc, error) {
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	d.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("the file declares encoding %q; only UTF-8 is supported", charset)
	}
	doc := &xdoc{prefixes: map[string]string{}}
	var stack []*xnode
	order, nodes := 0, 0
	for {
		if err := tick(); err != nil {
			return nil, err
		}
		off := int(d.InputOffset())
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fail(se.Line, 0, "%s", se.Msg)
			}
			line, col := lineCol(src, off)
			return nil, fail(line, col, "%v", err)
		}
		next := int(d.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= MaxDepth {
				return nil, limit("depth", MaxDepth, off)
			}
			if nodes += 1 + len(t.Attr); nodes > MaxNodes {
				return nil, limit("nodes", MaxNodes, off)
			}
			n, err := startTag(src, off, next, t)
			if err != nil {
				line, col := lineCol(src, off)
				return nil, fail(line, col, "%v", err)
			}
			n.order = order
			order++
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					if _, ok := doc.prefixes[a.Name.Local]; !ok {
						doc.prefixes[a.Name.Local] = a.Value
					}
				}
			}
			switch {
			case len(stack) > 0:
				p := stack[len(stack)-1]
				n.parent = p
				p.children = append(p.children, n)
				p.hasElems = true
			case doc.root != nil:
				line, col := lineCol(src, off)
				return nil, fail(line, col, "a second root element <%s>", n.qname)
			default:
				doc.root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n.end, n.endEnd = off, next
			numberSiblings(n.children)
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.text = append(top.text, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				line, col := lineCol(src, off)
				return nil, fail(line, col, "text outside the root element")
			}
		case xml.Directive:
			line, col := lineCol(src, off)
			return nil, fail(line, col, "<!%s…> is not allowed (no DOCTYPE or entity declarations)", firstWord(t))
		}
	}
	if doc.root == nil {
		return nil, fail(0, 0, "no root element")
	}
	return doc, nil
}

// numberSiblings sets the position of each of children among those of the
// same name, once all are read, so that naming a node costs the depth of
// the tree, not the number of its siblings.
func numberSiblings(children []*xnode) {
	if len(children) < 2 {
		return
	}
	count := map[string]int{}
	for _, c := range children {
		count[c.qname]++
		c.pos = count[c.qname]
	}
	for _, c := range children {
		if count[c.qname] == 1 {
			c.pos = 0
		}
	}
}

func firstWord(b []byte) string {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// startTag reads the start tag src[from:to], which the decoder has
// checked, into a node with the byte ranges of its attribute values.
func startTag(src []byte, from, to int, t xml.StartElement) (*xnode, error) {
	raw := src[from:to]
	n := &xnode{name: t.Name, start: from, tagEnd: to, end: to, endEnd: to}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	i := 1
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' {
		i++
	}
	n.qname = string(raw[1:i])
	for {
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i >= len(raw) || raw[i] == '/' || raw[i] == '>' {
			break
		}
		a := i
		for i < len(raw) && !isSpace(raw[i]) && raw[i] != '=' {
			i++
		}
		qname := string(raw[a:i])
		for i < len(raw) && (isSpace(raw[i]) || raw[i] == '=') {
			i++
		}
		if i >= len(raw) || raw[i] != '"' && raw[i] != '\'' {
			return nil, fmt.Errorf("cannot read attribute %s", qname)
		}
		q := bytes.IndexByte(raw[i+1:], raw[i])
		if q < 0 {
			return nil, fmt.Errorf("cannot read attribute %s", qname)
		}
		n.attrs = append(n.attrs, xattr{qname: qname, valStart: from + i + 1, valEnd: from + i + 1 + q})
		i += q + 2
	}
	if len(n.attrs) != len(t.Attr) {
		return nil, fmt.Errorf("cannot read the attributes of <%s>", n.qname)
	}
	for k := range n.attrs {
		n.attrs[k].name, n.attrs[k].value = t.Attr[k].Name, t.Attr[k].Value
	}
	if bytes.HasSuffix(raw, []byte("/>")) {
		n.selfEnd = true
		n.tailFrom = from + len(bytes.TrimRight(raw[:len(raw)-2], " \t\r\n"))
	}
	return n, nil
}

// xmlTarget is a node a variable selects: an element, its text, or an
// attribute.
type xmlTarget struct {
	name  string
	node  *xnode
	attr  *xattr
	text  bool
	start int
	end   int
	out   []byte
}

// xml replaces what variables named by XPath select, editing only those
// bytes.
func (r *replacer) xml() ([]byte, error) {
	doc, err := parseXML(r.src, r.parseError, r.limit, r.tick)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(r.vars))
	for n := range r.vars {
		if strings.HasPrefix(n, "/") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var targets []xmlTarget
	grow := 0 // how much larger the result is than src, at most (a value inside a replaced element counts too)
	for _, name := range names {
		x, err := parseXPath(name)
		if err != nil {
			return nil, &ValueError{File: r.file, Name: name, Msg: err.Error()}
		}
		value := r.vars[name]
		if err := r.ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", r.file, context.Cause(r.ctx))
		}
		fragmentOK := -1            // whether value is a well-formed fragment, once known
		var escText, escAttr []byte // value escaped, once needed
		selected, err := x.eval(doc, r.tick)
		if err != nil {
			return nil, err
		}
		for _, n := range selected {
			if err := r.tick(); err != nil {
				return nil, err
			}
			line := r.line(n.start)
			if err := r.checkValue(name, value, line); err != nil {
				return nil, err
			}
			if err := xmlChars(value); err != nil {
				return nil, r.valueError(name, line, "%v", err)
			}
			if x.attr != nil {
				for k := range n.attrs {
					a := &n.attrs[k]
					if !isXmlnsAttr(a.name) && x.attr.matches(a.name, doc.prefixes) {
						if escAttr == nil {
							escAttr = []byte(xmlAttrEscape(value))
						}
						if grow += len(escAttr) - (a.valEnd - a.valStart); len(r.src)+grow > MaxSize {
							return nil, r.limit("size", MaxSize, n.start)
						}
						targets = append(targets, xmlTarget{name: name, node: n, attr: a, start: a.valStart, end: a.valEnd, out: escAttr})
					}
				}
				continue
			}
			if n.hasElems && !x.text && fragmentOK < 0 {
				fragmentOK = 0
				_, err := parseXML([]byte("<x>"+value+"</x>"), func(int, int, string, ...any) error { return errors.New("") },
					func(limit string, max, _ int) error {
						return &LimitError{File: r.file, Line: line, Limit: limit, Max: max}
					}, r.tick)
				var le *LimitError
				if errors.As(err, &le) || r.ctx.Err() != nil {
					return nil, err
				}
				if err == nil {
					fragmentOK = 1
				}
			}
			if escText == nil {
				escText = []byte(xmlTextEscape(value))
			}
			t, err := r.elementTarget(name, n, value, escText, x.text, fragmentOK == 1, line)
			if err != nil {
				return nil, err
			}
			if grow += len(t.out) - (t.end - t.start); len(r.src)+grow > MaxSize {
				return nil, r.limit("size", MaxSize, n.start)
			}
			targets = append(targets, t)
		}
	}
	slices.SortStableFunc(targets, func(a, b xmlTarget) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end // the wider first
	})
	var edits []edit
	keptEnd := -1
	for i, t := range targets {
		if i > 0 && t.start == targets[i-1].start && t.end == targets[i-1].end {
			return nil, r.valueError(t.name, r.line(t.node.start), "selects %s, which %s selects too", xmlPath(t), targets[i-1].name)
		}
		if t.start < keptEnd {
			continue // inside an element being replaced
		}
		edits = append(edits, edit{start: t.start, end: t.end, text: t.out})
		keptEnd = t.end
		r.record(t.name, xmlPath(t), r.line(t.node.start))
	}
	return r.edited(r.src, edits)
}

// elementTarget returns the edit that writes value into element n: as a
// fragment (which it must be) when it has child elements (unless asText,
// for text()), as
// CDATA when it holds one CDATA section, and as escaped text otherwise.
func (r *replacer) elementTarget(name string, n *xnode, value string, escaped []byte, asText, fragment bool, line int) (xmlTarget, error) {
	t := xmlTarget{name: name, node: n, text: asText, start: n.tagEnd, end: n.end}
	switch {
	case n.hasElems && asText:
		return t, r.valueError(name, line, "text() of an element with child elements is not supported; select the element or a child")
	case n.hasElems:
		if !fragment {
			return t, r.valueError(name, line, "value must be a well-formed XML fragment to replace the element's children")
		}
		t.out = []byte(value)
	case n.selfEnd:
		t.start, t.end = n.tailFrom, n.endEnd
		t.out = []byte(">" + string(escaped) + "</" + n.qname + ">")
	default:
		content := bytes.TrimSpace(r.src[n.tagEnd:n.end])
		if bytes.HasPrefix(content, []byte("<![CDATA[")) && bytes.HasSuffix(content, []byte("]]>")) && bytes.Count(content, []byte("<![CDATA[")) == 1 {
			t.out = []byte("<![CDATA[" + strings.ReplaceAll(value, "]]>", "]]]]><![CDATA[>") + "]]>")
		} else {
			t.out = escaped
		}
	}
	return t, nil
}

func isXmlnsAttr(n xml.Name) bool {
	return n.Space == "xmlns" || n.Space == "" && n.Local == "xmlns"
}

// xmlChars refuses characters that XML 1.0 cannot hold at all.
func xmlChars(v string) error {
	for _, c := range v {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0xfffe || c == 0xffff {
			return fmt.Errorf("value holds the character U+%04X, which XML cannot represent", c)
		}
	}
	return nil
}

// xmlTextEscape escapes value for element text; CR is kept as a
// character reference, since parsers turn a literal CR into LF.
func xmlTextEscape(v string) string {
	return strings.ReplaceAll(escape.XML(v), "\r", "&#13;")
}

// xmlAttrEscape escapes value for an attribute value; tab and line breaks
// are character references, since parsers turn literal ones into spaces.
func xmlAttrEscape(v string) string {
	return strings.NewReplacer("\t", "&#9;", "\n", "&#10;", "\r", "&#13;").Replace(escape.XML(v))
}

// xmlPath returns a path that names t alone: element names from the root,
// each with its position among same-named siblings when it has any.
func xmlPath(t xmlTarget) string {
	var parts []string
	for n := t.node; n != nil; n = n.parent {
		part := n.qname
		if n.pos > 0 {
			part = fmt.Sprintf("%s[%d]", part, n.pos)
		}
		parts = append(parts, part)
	}
	slices.Reverse(parts)
	p := "/" + strings.Join(parts, "/")
	switch {
	case t.attr != nil:
		p += "/@" + t.attr.qname
	case t.text:
		p += "/text()"
	}
	return p
}

// eval returns the elements x selects, in document order; tick is called
// for each node visited, and its error ends the evaluation.
func (x *xpath) eval(doc *xdoc, tick func() error) ([]*xnode, error) {
	ctx := []*xnode{{children: []*xnode{doc.root}, order: -1}} // the document node
	for _, st := range x.steps {
		parents := ctx
		if st.descendant {
			parents = descendantsOrSelf(ctx)
		}
		seen := map[*xnode]bool{}
		var next []*xnode
		for _, p := range parents {
			if err := tick(); err != nil {
				return nil, err
			}
			for _, n := range st.filter(p.children, doc) {
				if !seen[n] {
					seen[n] = true
					next = append(next, n)
				}
			}
		}
		slices.SortFunc(next, func(a, b *xnode) int { return a.order - b.order })
		ctx = next
	}
	return ctx, nil
}

// filter returns the children that match the step's name and predicates.
func (st *xstep) filter(children []*xnode, doc *xdoc) []*xnode {
	var out []*xnode
	for _, c := range children {
		if st.name.matches(c.name, doc.prefixes) {
			out = append(out, c)
		}
	}
	for _, pr := range st.preds {
		if pr.pos > 0 {
			if pr.pos > len(out) {
				return nil
			}
			out = out[pr.pos-1 : pr.pos]
			continue
		}
		out = slices.DeleteFunc(out, func(n *xnode) bool { return !pr.holds(n, doc) })
	}
	return out
}

// holds reports whether n satisfies an attribute or child predicate.
func (pr *xpred) holds(n *xnode, doc *xdoc) bool {
	if pr.attr {
		for _, a := range n.attrs {
			if !isXmlnsAttr(a.name) && pr.name.matches(a.name, doc.prefixes) {
				return !pr.hasValue || pr.value == a.value
			}
		}
		return false
	}
	for _, c := range n.children {
		if pr.name.matches(c.name, doc.prefixes) && !c.hasElems && string(c.text) == pr.value {
			return true
		}
	}
	return false
}

// descendantsOrSelf returns the nodes of ctx and all their descendants,
// each once, visiting each node at most once.
func descendantsOrSelf(ctx []*xnode) []*xnode {
	seen := map[*xnode]bool{}
	var out []*xnode
	for _, c := range ctx {
		if seen[c] {
			continue
		}
		seen[c] = true
		queue := []*xnode{c}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			out = append(out, n)
			for _, ch := range n.children {
				if !seen[ch] {
					seen[ch] = true
					queue = append(queue, ch)
				}
			}
		}
	}
	return out
}

// matches reports whether name test m matches n.
func (m xname) matches(n xml.Name, prefixes map[string]string) bool {
	if m.local != "*" && n.Local != m.local {
		return false
	}
	switch m.prefix {
	case "*":
		return true
	case "":
		return n.Space == ""
	}
	uri, ok := prefixes[m.prefix]
	return ok && n.Space == uri
}
