package structured

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// xpath is a parsed location path of the supported XPath subset.
type xpath struct {
	steps []xstep
	attr  *xname // a final @attr step
	text  bool   // a final text() step
}

// xstep is one element step: the child axis, or descendant-or-self then
// child for //.
type xstep struct {
	descendant bool
	name       xname
	preds      []xpred
}

// xname is a name test: prefix "" (no namespace), "*" (any) or a declared
// prefix; local "*" matches any local name.
type xname struct {
	prefix, local string
}

// xpred is a predicate: [n] (pos > 0), [@attr], [@attr='v'] or [child='v'].
type xpred struct {
	pos      int
	attr     bool
	name     xname
	hasValue bool
	value    string
}

// parseXPath parses the subset described in the package documentation.
func parseXPath(s string) (*xpath, error) {
	p := &xpathParser{s: s}
	x, err := p.path()
	if err != nil {
		return nil, fmt.Errorf("unsupported XPath (at offset %d): %w", p.i, err)
	}
	return x, nil
}

type xpathParser struct {
	s string
	i int
}

func (p *xpathParser) path() (*xpath, error) {
	x := &xpath{}
	for p.i < len(p.s) {
		if x.attr != nil || x.text {
			return nil, errors.New("@attr and text() must come last")
		}
		if !p.eat("/") {
			return nil, errors.New("want /")
		}
		desc := p.eat("/")
		switch {
		case p.eat("@"):
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			if desc {
				return nil, errors.New("//@attr is not supported; name the element")
			}
			x.attr = &n
		case p.eat("text()"):
			if desc {
				return nil, errors.New("//text() is not supported; name the element")
			}
			x.text = true
		default:
			n, err := p.name()
			if err != nil {
				return nil, err
			}
			st := xstep{descendant: desc, name: n}
			for p.eat("[") {
				pr, err := p.pred()
				if err != nil {
					return nil, err
				}
				st.preds = append(st.preds, pr)
			}
			x.steps = append(x.steps, st)
		}
	}
	if len(x.steps) == 0 {
		return nil, errors.New("want at least one element step")
	}
	return x, nil
}

func (p *xpathParser) eat(tok string) bool {
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

// name parses a name test: NAME, *, prefix:NAME, *:NAME or prefix:*.
func (p *xpathParser) name() (xname, error) {
	first := p.ncname()
	if first == "" {
		return xname{}, errors.New("want a name or *")
	}
	if !p.eat(":") {
		if first == "*" {
			return xname{prefix: "*", local: "*"}, nil
		}
		return xname{local: first}, nil
	}
	second := p.ncname()
	if second == "" {
		return xname{}, errors.New("want a name or * after the colon")
	}
	return xname{prefix: first, local: second}, nil
}

// ncname reads a name without a colon, or *.
func (p *xpathParser) ncname() string {
	if p.eat("*") {
		return "*"
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '/' || c == '[' || c == ']' || c == '@' || c == ':' || c == '=' || c == '\'' || c == '"' || c == ' ' || c == '(' || c == ')' || c == '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// pred parses what follows '[' up to and including ']'.
func (p *xpathParser) pred() (xpred, error) {
	var pr xpred
	if j := strings.IndexByte(p.s[p.i:], ']'); j > 0 {
		if n, err := strconv.Atoi(p.s[p.i : p.i+j]); err == nil {
			if n < 1 {
				return pr, errors.New("positions start at 1")
			}
			p.i += j + 1
			return xpred{pos: n}, nil
		}
	}
	pr.attr = p.eat("@")
	n, err := p.name()
	if err != nil {
		return pr, err
	}
	pr.name = n
	if p.eat("=") {
		q := byte(0)
		if p.i < len(p.s) {
			q = p.s[p.i]
		}
		if q != '\'' && q != '"' {
			return pr, errors.New("want a 'quoted' value after =")
		}
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return pr, errors.New("unterminated quoted value")
		}
		pr.hasValue, pr.value = true, p.s[p.i+1:p.i+1+end]
		p.i += end + 2
	} else if !pr.attr {
		return pr, errors.New("want [n], [@attr], [@attr='v'] or [child='v']")
	}
	if !p.eat("]") {
		return pr, errors.New("want ]")
	}
	return pr, nil
}
