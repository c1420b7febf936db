package jsonx

import (
	"errors"
	"strings"
	"testing"
)

func TestUnmarshal(t *testing.T) {
	type inner struct {
		A int `json:"a"`
	}
	type doc struct {
		Seq   int     `json:"sequence"`
		Inner inner   `json:"inner"`
		List  []inner `json:"list"`
	}
	tests := []struct {
		in      string
		wantErr string
	}{
		{`{"sequence":1,"inner":{"a":2},"list":[{"a":1},{"a":1}]}`, ""},
		{`{"sequence":1,"sequence":99}`, `duplicate key "sequence"`},
		{`{"inner":{"a":1,"a":2}}`, `duplicate key "a"`},
		{`{"list":[{"a":1},{"a":2,"a":3}]}`, `duplicate key "a"`},
		{`{"sequence":1,"extra":true}`, `unknown field "extra"`},
		{`{"sequence":1} {}`, `unexpected data after the JSON value`},
		{`{"sequence":1`, `unexpected EOF`},
		{`{"inner":{"a":1},"list":[]}`, ""},
	}
	for _, tt := range tests {
		var d doc
		err := Unmarshal([]byte(tt.in), &d)
		if tt.wantErr == "" && err != nil {
			t.Errorf("Unmarshal(%s) = %v, want nil", tt.in, err)
		}
		if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Unmarshal(%s) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestReadCap(t *testing.T) {
	var v map[string]int
	if _, err := Read(strings.NewReader(`{"a":1}`), 7, &v); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	if _, err := Read(strings.NewReader(`{"a": 1}`), 7, &v); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the cap: %v, want ErrTooLarge", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":2}]},"d":"e"}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		_ = Unmarshal(data, &v)
	})
}
