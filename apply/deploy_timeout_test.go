//go:build unix

package apply

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// slowDeployBundle builds a release whose deploy step's structured
// replacement work grows with the product of its variables and the
// file's elements: each of 20,000 XPath variables tests every one of
// 45,000 elements (minutes of work), with the step timeout given.
func (z *testZone) slowDeployBundle(timeout string) string {
	z.t.Helper()
	const vars, elems = 20000, 45000
	var y strings.Builder
	y.WriteString(`apiVersion: airlock/v1
name: shop
version: "1.0.0"
targets: [zone:test]
packages:
  - name: app
    path: app
variables:
  Root: /nonexistent
  Marker: /nonexistent
`)
	for i := range vars {
		fmt.Fprintf(&y, "  \"//a[@k='%d']\": x\n", i)
	}
	fmt.Fprintf(&y, `steps:
  - name: install
    deploy: app
    to: "#{Root}"
    structured: ["big.xml"]
    timeout: %s
`, timeout)
	dir, _ := z.f.Build(bundletest.Options{YAML: y.String(), Sequence: 1,
		Files: map[string]string{"app/big.xml": "<r>" + strings.Repeat("<a k='w'/>", elems) + "</r>"}})
	return dir
}

// TestDeployHonoursTimeout: a deploy step whose replacement work takes
// minutes and whose timeout is one second is stopped: the step times out,
// the apply rolls back, and no release is left current. Before the deploy
// step took a context, it ran to the end and succeeded.
func TestDeployHonoursTimeout(t *testing.T) {
	z := newZone(t)
	res, err := z.apply(z.slowDeployBundle("1s"))
	if res == nil {
		t.Fatalf("apply: %v\n%s", err, z.out.String())
	}
	p := z.receipt(res)
	s := stepNamed(t, p, "install")
	if s.Result != receipt.StepTimedOut || !strings.Contains(s.Error, "timed out after 1s") {
		t.Errorf("step %s (%q), want timed-out", s.Result, s.Error)
	}
	if p.Outcome.Result != receipt.RolledBack {
		t.Errorf("outcome %s, want %s", p.Outcome.Result, receipt.RolledBack)
	}
	if cur := z.current(); cur != "" {
		t.Errorf("current is %q after a deploy that timed out", cur)
	}
}

// cancelOn is the output of an apply; it cancels the apply's context when
// the output shows text.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	text   string
	cancel context.CancelCauseFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.text) {
		c.cancel(errors.New("signal"))
	}
	return len(p), nil
}

// TestDeployStopsOnSignal: an interruption (the apply's context, which a
// signal cancels) during a deploy step's replacement work, whose timeout
// is a day, stops it: the apply is interrupted and rolled back.
func TestDeployStopsOnSignal(t *testing.T) {
	z := newZone(t)
	dir := z.slowDeployBundle("24h")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	out := &cancelOn{text: "==> step 1/1: install", cancel: cancel}
	o := z.opts(dir)
	o.Stdout, o.Stderr = out, out
	res, err := Apply(ctx, o)
	if res == nil {
		t.Fatalf("apply: %v\n%s", err, out.buf.String())
	}
	p := z.receipt(res)
	if p.Outcome.Result != receipt.RolledBack || p.Outcome.Reason != receipt.ReasonInterrupted {
		t.Errorf("outcome %+v, want rolled back after an interruption", p.Outcome)
	}
	if s := stepNamed(t, p, "install"); s.Result == receipt.StepSucceeded {
		t.Errorf("step %s (%q), want it stopped", s.Result, s.Error)
	}
	if cur := z.current(); cur != "" {
		t.Errorf("current is %q after an interrupted deploy", cur)
	}
}
