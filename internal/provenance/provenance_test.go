package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/intoto"
	"airlock.dev/airlock/internal/keys"
)

func newKey(t *testing.T) *keys.Signer {
	t.Helper()
	priv, _, err := keys.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := keys.ParsePrivate(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func predicate() Predicate {
	return Predicate{
		BuildDefinition: BuildDefinition{
			BuildType:          "https://airlock.dev/release/v1",
			ExternalParameters: map[string]any{"version": "v1.2.0", "targets": []string{"linux/amd64"}},
			InternalParameters: map[string]any{"GOAMD64": "v1"},
			ResolvedDependencies: []ResourceDescriptor{
				{URI: "git+https://airlock.dev/airlock", Digest: map[string]string{"gitCommit": "f1d2c1a"}},
			},
		},
		RunDetails: RunDetails{Builder: Builder{ID: "https://airlock.dev/release/make-dist"}},
	}
}

func TestSignRead(t *testing.T) {
	k, other := newKey(t), newKey(t)
	subjects := []intoto.Subject{intoto.SHA256("airlock-linux-amd64", strings.Repeat("ab", 32))}
	a, err := Sign(k, subjects, predicate())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(a, []byte("\n")) != 1 || !bytes.HasSuffix(a, []byte("\n")) {
		t.Errorf("not one line of JSON:\n%s", a)
	}
	st, err := Read(bytes.NewReader(a), []*keys.PublicKey{other.Public(), k.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := SubjectDigest(st, "airlock-linux-amd64"); !ok || d != strings.Repeat("ab", 32) {
		t.Errorf("subject digest %q %v", d, ok)
	}
	if _, ok := SubjectDigest(st, "other"); ok {
		t.Error("names a subject it does not have")
	}
	if st.Predicate.BuildDefinition.ExternalParameters["version"] != "v1.2.0" {
		t.Errorf("predicate %+v", st.Predicate)
	}

	// The same statement each time: only the signature differs.
	b, err := Sign(k, subjects, predicate())
	if err != nil {
		t.Fatal(err)
	}
	if payloadOf(t, a) != payloadOf(t, b) {
		t.Error("two signings of the same provenance differ in their statement")
	}

	if _, err := Read(bytes.NewReader(a), []*keys.PublicKey{other.Public()}); !errors.Is(err, dsse.ErrNoSignature) {
		t.Errorf("another key: %v", err)
	}
	// A statement changed after signing.
	var env dsse.Envelope
	if err := json.Unmarshal(a, &env); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(env.Payload)
	env.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(p, []byte("abab"), []byte("cdcd"), 1))
	changed, _ := json.Marshal(env)
	if _, err := Read(bytes.NewReader(changed), []*keys.PublicKey{k.Public()}); !errors.Is(err, dsse.ErrNoSignature) {
		t.Errorf("a changed statement: %v", err)
	}
	// Another predicate, signed by the key: not provenance.
	other2, _ := json.Marshal(intoto.Statement[map[string]string]{Type: intoto.StatementType, Subject: subjects, PredicateType: "https://slsa.dev/verification_summary/v1", Predicate: map[string]string{}})
	e2, _ := dsse.Sign(dsse.InTotoPayloadType, other2, k)
	line, _ := json.Marshal(e2)
	if _, err := Read(bytes.NewReader(line), []*keys.PublicKey{k.Public()}); err == nil || !strings.Contains(err.Error(), PredicateType) {
		t.Errorf("a verification summary read as provenance: %v", err)
	}
}

func payloadOf(t *testing.T, line []byte) string {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(line, &env); err != nil {
		t.Fatal(err)
	}
	return env.Payload
}

// FuzzRead: no input makes Read panic.
func FuzzRead(f *testing.F) {
	k, err := keys.ParsePrivate(func() []byte { p, _, _ := keys.Generate(nil); return p }(), nil)
	if err != nil {
		f.Fatal(err)
	}
	good, err := Sign(k, []intoto.Subject{intoto.SHA256("a", strings.Repeat("0", 64))}, predicate())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Read(bytes.NewReader(b), []*keys.PublicKey{k.Public()})
	})
}
