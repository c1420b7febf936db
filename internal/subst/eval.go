package subst

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxOutput bounds the bytes one Expand produces, and the result of any one
// filter.
const MaxOutput = 256 << 20

// maxWork bounds the work one Expand does, so that loops and filters whose
// output is small still end within seconds: each node evaluated and each loop
// iteration costs nodeWork, each byte a filter reads costs 1. A template of
// 64 MiB of references uses at most a quarter of it.
const (
	maxWork  = 1 << 29
	nodeWork = 8
)

// ErrTooLarge is wrapped by the error Expand returns when the expansion
// would exceed its limits.
var ErrTooLarge = errors.New("expansion too large")

// limits bound one expansion; tests lower them.
type limits struct {
	output, work int
}

// evaluator holds the state of one Expand.
type evaluator struct {
	limits
	lookup  func(string) (string, bool)
	out     []byte
	missing map[string]bool
	loops   []loop // enclosing #{each} iterations, outermost first
	work    int
}

// loop is the current iteration of an #{each}.
type loop struct {
	item     string
	index, n int
}

func (e *evaluator) nodes(ns []node) error {
	for i := range ns {
		if err := e.node(&ns[i]); err != nil {
			return err
		}
	}
	return nil
}

func (e *evaluator) node(n *node) error {
	if err := e.spend(nodeWork); err != nil {
		return err
	}
	switch n.kind {
	case textNode:
		return e.write(n.text)
	case exprNode:
		v, ok, err := e.expr(n.expr)
		if err != nil || !ok {
			return err
		}
		return e.write([]byte(v))
	case ifNode:
		for _, c := range n.cases {
			hold := true
			if c.cond != nil {
				var err error
				if hold, err = e.cond(c.cond); err != nil {
					return err
				}
			}
			if hold {
				return e.nodes(c.body)
			}
		}
		return nil
	case eachNode:
		list, ok, err := e.expr(n.expr)
		if err != nil || !ok || list == "" {
			return err
		}
		items := strings.Split(list, ",")
		e.loops = append(e.loops, loop{n: len(items)})
		defer func() { e.loops = e.loops[:len(e.loops)-1] }()
		for i, item := range items {
			if err := e.spend(nodeWork); err != nil {
				return err
			}
			e.loops[len(e.loops)-1] = loop{item: item, index: i, n: len(items)}
			if err := e.nodes(n.body); err != nil {
				return err
			}
		}
	}
	return nil
}

// spend counts n units of work.
func (e *evaluator) spend(n int) error {
	if e.work += n; e.work > e.limits.work {
		return fmt.Errorf("%w: loops and filters run too long", ErrTooLarge)
	}
	return nil
}

func (e *evaluator) write(b []byte) error {
	if len(e.out)+len(b) > e.output {
		return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, e.output)
	}
	e.out = append(e.out, b...)
	return nil
}

// expr returns the value of x; ok is false when its name is unknown.
func (e *evaluator) expr(x *expr) (v string, ok bool, err error) {
	switch {
	case x.loop < 0:
		if v, ok = e.lookup(x.name); !ok {
			e.missing[x.name] = true
			return "", false, nil
		}
	case x.helper == "":
		v = e.loops[x.loop].item
	case x.helper == "Index":
		v = strconv.Itoa(e.loops[x.loop].index)
	case x.helper == "First":
		v = pascalBool(e.loops[x.loop].index == 0)
	default: // Last
		l := e.loops[x.loop]
		v = pascalBool(l.index == l.n-1)
	}
	for _, f := range x.filters {
		if err := e.spend(len(v)); err != nil {
			return "", false, err
		}
		if v, err = f(v); err != nil {
			return "", false, err
		}
	}
	return v, true, nil
}

// cond evaluates c; an unknown name counts as false.
func (e *evaluator) cond(c *cond) (bool, error) {
	left, ok, err := e.operand(c.left)
	if err != nil {
		return false, err
	}
	var hold bool
	switch c.op {
	case "":
		hold = ok && truthy(left)
	default:
		right, rok, err := e.operand(c.right)
		if err != nil {
			return false, err
		}
		hold = ok && rok && (left == right) == (c.op == "==")
	}
	return hold != c.negate, nil
}

func (e *evaluator) operand(o operand) (string, bool, error) {
	if o.expr == nil {
		return o.text, true, nil
	}
	return e.expr(o.expr)
}

// truthy is Octostache's rule: a value is false when it is empty, "0", or
// "False" or "No" in any case with any white space around; true otherwise.
func truthy(v string) bool {
	t := strings.TrimSpace(v)
	return v != "" && v != "0" && !strings.EqualFold(t, "false") && !strings.EqualFold(t, "no")
}

func pascalBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
