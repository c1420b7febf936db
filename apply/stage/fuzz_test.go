package stage

import (
	"archive/tar"
	"bytes"
	"context"
	"reflect"
	"testing"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
)

// fuzzEntries is the archive the fuzz manifest describes.
func fuzzEntries() []entry {
	return []entry{
		varsEntry(testVarsJSON),
		dirEntry("d"),
		reg("d/f", 0o644, "hello\n"),
		reg("e", 0o644, ""),
		reg("x", 0o755, "#!/bin/sh\nexit 0\n"),
	}
}

// FuzzExtract feeds arbitrary tar bytes, encrypted and compressed as a
// bundle would be (with a true predicate for them), against a fixed
// manifest. Extract must never panic or write outside the staging
// directory; it either stages exactly the manifest's files or refuses
// with an *Error and leaves no staging directory behind.
func FuzzExtract(f *testing.F) {
	good := fuzzEntries()
	seeds := [][]entry{
		good,
		nil,
		good[:3],
		append(good[:len(good):len(good)], reg("extra", 0o644, "x")),
		replace(good, "d/f", entry{name: "d/f", typ: tar.TypeSymlink, mode: 0o777, linkname: "../../etc"}),
		replace(good, "d/f", entry{name: "d/f", typ: tar.TypeLink, mode: 0o644, linkname: "x"}),
		replace(good, "d", reg("d", 0o755, "")),
		replace(good, "x", entry{name: "x", typ: tar.TypeReg, mode: 0o755, size: 17, body: []byte("#!/bin"), truncate: true}),
		insertBefore(good, "x", rawEntry(paxHeader([2]string{"path", "../x"}))),
		insertBefore(good, "x", rawEntry(paxHeader([2]string{"size", "3"}))),
	}
	for _, es := range seeds {
		var b bytes.Buffer
		if err := writeTar(&b, es); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte("not a tar"))
	f.Add(make([]byte, 1024))

	m := manifestFor(good)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		fx := newFixtureWith(t, id)
		p := fx.sealPlain(plain, len(m.Files)+1, sealOpts{})
		st, err := fx.extract(context.Background(), p, m)
		if err != nil {
			if st != nil {
				t.Error("Extract returned both a result and an error")
			}
			if !isRefusal(err) {
				t.Errorf("a payload that does not match is not refused with an *Error: %v", err)
			}
			fx.assertGone()
			return
		}
		assertStaged(t, fx.dir, m)
		want := &bundle.VariablesDoc{Salt: "5a17", Values: map[string]string{"DbPassword": canary, "Port": "8080"}}
		if !reflect.DeepEqual(st.Variables, want) {
			t.Errorf("variables %+v, want %+v", st.Variables, want)
		}
		fx.assertConfined(true)
	})
}
