package bundle

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestManifestEncoder: the streaming encoder writes exactly what
// json.MarshalIndent writes, for no files, for files of every kind and
// awkward names, and with every field of File set (a field added to File
// and not to the encoder fails here).
func TestManifestEncoder(t *testing.T) {
	full := File{}
	v := reflect.ValueOf(&full).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x&<é\"\\\u2028" + v.Type().Field(i).Name)
		case reflect.Int, reflect.Int64, reflect.Uint32:
			if f.CanInt() {
				f.SetInt(7)
			} else {
				f.SetUint(0o644)
			}
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("File.%s: kind %v; teach the encoder and this test about it", v.Type().Field(i).Name, f.Kind())
		}
	}
	files := []File{
		{Path: "packages", Type: TypeDir, Mode: 0o755},
		{Path: "packages/app", Type: TypeDir, Mode: 0o755},
		{Path: "packages/app/a & b.txt", Type: TypeFile, Mode: 0o644, Size: 12, SHA256: "ab"},
		{Path: "packages/app/ünïcode ✓", Type: TypeFile, Mode: 0o755, Size: 1 << 40, SHA256: "cd"},
		{Path: "packages/app/empty", Type: TypeFile, Mode: 0o644},
		full,
	}
	for _, fs := range [][]File{nil, {}, files[:1], files} {
		m := &Manifest{
			FormatVersion: FormatVersion, Name: "n", Version: "1", Channel: "c",
			Packages:  []PackageRef{{Name: "app", Root: "packages/app", Files: 3, Size: 12}},
			Variables: []VariableRef{{Name: "V", Sensitive: true, Description: "<d>"}},
			Steps:     []Step{{Name: "s", Run: "echo & <x>", When: "success"}},
			Files:     fs,
		}
		got, err := MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if fs == nil {
			m.Files = []File{}
		}
		want, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if string(got) != string(want) {
			t.Errorf("%d files:\ngot  %s\nwant %s", len(fs), got, want)
		}
	}
}
