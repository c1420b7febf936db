package zone

import "testing"

// FuzzParseDocument feeds trust.yaml's decoder arbitrary bytes: it never
// panics, and a document it accepts marshals and parses again.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nroles:\n  release: { threshold: 1, keys: [a.pub, {path: b.pub, name: Bea}] }\noperators: [{path: o.pub, name: Olga}]\nrequireOperatorSignature: true\nstate: s\n"))
	f.Add([]byte("apiVersion: airlock/v1\nzone: z\nstate: s\nroles: {release: {keys: [[x]]}}\n"))
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
