//go:build unix

package apply

import (
	"fmt"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle/bundletest"
	"airlock.dev/airlock/receipt"
)

// TestDeployHonoursTimeout: a deploy step whose structured replacement
// work grows with the product of its variables and the file's elements
// (each of thousands of XPath variables tests every one of tens of
// thousands of elements: minutes of work) and whose timeout is one second
// is stopped: the step times out, the apply rolls back, and no release is
// left current. Before the deploy step took a context, it ran to the end
// and succeeded.
func TestDeployHonoursTimeout(t *testing.T) {
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
	y.WriteString(`steps:
  - name: install
    deploy: app
    to: "#{Root}"
    structured: ["big.xml"]
    timeout: 1s
`)
	z := newZone(t)
	dir, _ := z.f.Build(bundletest.Options{YAML: y.String(), Sequence: 1,
		Files: map[string]string{"app/big.xml": "<r>" + strings.Repeat("<a k='w'/>", elems) + "</r>"}})
	res, err := z.apply(dir)
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
