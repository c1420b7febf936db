package zone

import (
	"reflect"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/keys"
)

// FuzzParseDocument feeds trust.yaml's decoder arbitrary bytes: it never
// panics, and a document it accepts marshals and parses again.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nroles:\n  release: { threshold: 1, keys: [a.pub, {path: b.pub, name: Bea}] }\noperators: [{path: o.pub, name: Olga}]\nrequireOperatorSignature: true\nstate: s\n"))
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nstate: s\nroles: {release: {keys: [[x]]}}\n"))
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nroles: {release: {threshold: 1, keys: [a.pub]}}\nstate: s\nvariables: {A: {fromFile: s/a}, B: 1, C: \"{fromFile: x}\"}\n"))
	f.Add([]byte("zone: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDocument(data)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("marshal an accepted document: %v", err)
		}
		if _, err := ParseDocument(out); err != nil {
			t.Fatalf("a marshalled document does not parse again: %v\n%s", err, out)
		}
	})
}

// FuzzParseRegister feeds zone.yaml's decoder arbitrary bytes: it never
// panics, and a register it accepts marshals and parses again to the same
// register.
func FuzzParseRegister(f *testing.F) {
	_, pub, err := keys.Generate(nil)
	if err != nil {
		f.Fatal(err)
	}
	key := strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n        ")
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nhosts:\n  - name: a\n    roles: [web]\n    identity: zone\n    receiptKeys:\n      - |\n        " + key + "\n"))
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nhosts:\n  - name: a\n    identity: own\n    recipient: age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj\n    receiptKeys: [x]\n"))
	f.Add([]byte("hosts: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRegister(data)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("marshal an accepted register: %v", err)
		}
		again, err := ParseRegister(out)
		if err != nil {
			t.Fatalf("a marshalled register does not parse again: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again.Hosts, r.Hosts) || again.Zone != r.Zone {
			t.Fatalf("round trip changed the register:\n%+v\n%+v", r.Hosts, again.Hosts)
		}
	})
}
