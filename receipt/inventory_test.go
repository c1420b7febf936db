package receipt

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func objs(sizes ...int64) []Object {
	var out []Object
	for i, s := range sizes {
		out = append(out, Object{SHA256: sha256.Sum256([]byte{byte(i)}), Size: s})
	}
	SortObjects(out)
	return out
}

func TestInventoryRoundTrip(t *testing.T) {
	in := objs(10, 0, 1<<40, 65536)
	var b bytes.Buffer
	inv, err := WriteInventory(&b, "r.inventory", in)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Objects != 4 || inv.Bytes != 10+1<<40+65536 {
		t.Errorf("inventory %+v", inv)
	}
	var out []Object
	if err := ReadInventory(bytes.NewReader(b.Bytes()), inv, func(o Object) error { out = append(out, o); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d objects, wrote %d", len(out), len(in))
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("object %d: %v, want %v", i, out[i], in[i])
		}
	}
}

func TestInventoryRefused(t *testing.T) {
	in := objs(1, 2, 3)
	var b bytes.Buffer
	inv, _ := WriteInventory(&b, "r.inventory", in)
	good := b.String()
	lines := strings.SplitAfter(good, "\n")
	for name, tc := range map[string]struct {
		list string
		inv  Inventory
		want string
	}{
		"changed":      {strings.Replace(good, " 1\n", " 9\n", 1), *inv, "sha256"},
		"reordered":    {lines[1] + lines[0] + lines[2], *inv, "not sorted"},
		"duplicate":    {lines[0] + lines[0] + lines[1], *inv, "not sorted"},
		"short count":  {good, Inventory{List: inv.List, SHA256: inv.SHA256, Objects: 2, Bytes: inv.Bytes}, "objects"},
		"no newline":   {strings.TrimSuffix(good, "\n"), *inv, "line 3"},
		"upper hex":    {strings.ToUpper(lines[0]), *inv, "line 1"},
		"leading zero": {strings.Replace(lines[0], " ", " 0", 1), *inv, "line 1"},
		"negative":     {strings.Replace(lines[0], " ", " -", 1), *inv, "line 1"},
		"two spaces":   {strings.Replace(lines[0], " ", "  ", 1), *inv, "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ReadInventory(strings.NewReader(tc.list), &tc.inv, func(Object) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one about %q", err, tc.want)
			}
		})
	}
}

func TestWriteInventoryUnsorted(t *testing.T) {
	in := objs(1, 2)
	in[0], in[1] = in[1], in[0]
	if _, err := WriteInventory(&bytes.Buffer{}, "x.inventory", in); err == nil {
		t.Error("unsorted objects written")
	}
	if _, err := WriteInventory(&bytes.Buffer{}, "x.inventory", []Object{in[0], in[0]}); err == nil {
		t.Error("a duplicate written")
	}
}

func TestValidateInventory(t *testing.T) {
	sum := strings.Repeat("a", 64)
	for name, tc := range map[string]struct {
		p  Predicate
		ok bool
	}{
		"none":      {Predicate{}, true},
		"good":      {Predicate{Inventory: &Inventory{List: "r.inventory", SHA256: sum}, Delta: &Delta{Base: []string{sum}}}, true},
		"bad sum":   {Predicate{Inventory: &Inventory{List: "r.inventory", SHA256: "x"}}, false},
		"path":      {Predicate{Inventory: &Inventory{List: "../r.inventory", SHA256: sum}}, false},
		"suffix":    {Predicate{Inventory: &Inventory{List: "r.files", SHA256: sum}}, false},
		"no base":   {Predicate{Delta: &Delta{}}, false},
		"bad base":  {Predicate{Delta: &Delta{Base: []string{"x"}}}, false},
		"negative":  {Predicate{Inventory: &Inventory{List: "r.inventory", SHA256: sum, Bytes: -1}}, false},
		"neg delta": {Predicate{Delta: &Delta{Base: []string{sum}, BaseBytes: -1}}, false},
	} {
		if err := tc.p.validateInventory(); (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestInventorySideFile(t *testing.T) {
	n := FileName("z", "h", 3)
	if got := InventoryName(n); got != "receipt-z-h-0000000003.inventory" || !IsSideFile(got) || !InChain("z", got) {
		t.Errorf("InventoryName = %q, side file %v, in chain %v", got, IsSideFile(got), InChain("z", got))
	}
}

func FuzzReadInventory(f *testing.F) {
	var b bytes.Buffer
	WriteInventory(&b, "r.inventory", objs(1, 2, 3))
	f.Add(b.Bytes())
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []Object
		err := ReadInventory(bytes.NewReader(data), &Inventory{SHA256: strings.Repeat("0", 64)}, func(o Object) error { got = append(got, o); return nil })
		if err == nil {
			t.Fatal("a list with another digest was accepted")
		}
		// Whatever was read back writes out as the same lines.
		var out bytes.Buffer
		if _, werr := WriteInventory(&out, "r.inventory", got); werr != nil {
			t.Fatalf("objects read do not write back: %v", werr)
		}
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatalf("objects read write back as other lines")
		}
	})
}
