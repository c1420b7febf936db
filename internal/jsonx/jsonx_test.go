package jsonx

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	A int `json:"a"`
}

type doc struct {
	Seq   int       `json:"sequence"`
	Run   string    `json:"run,omitempty"`
	Inner inner     `json:"inner"`
	List  []inner   `json:"list"`
	When  time.Time `json:"when,omitzero"`
	Mode  mode      `json:"mode,omitempty"`
}

// mode has its own UnmarshalJSON, as bundle.Mode and bundle.Duration do.
type mode uint32

func (m *mode) UnmarshalJSON(b []byte) error {
	if string(b) != `"0644"` {
		return errors.New("bad mode")
	}
	*m = 0o644
	return nil
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{`{"sequence":1,"inner":{"a":2},"list":[{"a":1},{"a":1}]}`, ""},
		{`{"sequence":1,"when":"2026-11-01T12:00:00Z","mode":"0644"}`, ""},
		{`{"sequence":1,"mode":"0755"}`, "bad mode"},
		{`{"sequence":1,"sequence":99}`, `duplicate object member name "sequence"`},
		{`{"inner":{"a":1,"a":2}}`, `duplicate object member name "a"`},
		{`{"list":[{"a":1},{"a":2,"a":3}]}`, `duplicate object member name "a"`},
		{`{"sequence":1,"extra":true}`, `unknown object member name "extra"`},
		// A member that differs from a field only in case is unknown, not
		// that field: beside the real one, alone, and nested.
		{`{"run":"true","Run":"rm -rf /"}`, `unknown object member name "Run"`},
		{`{"Run":"rm -rf /"}`, `unknown object member name "Run"`},
		{`{"SEQUENCE":1}`, `unknown object member name "SEQUENCE"`},
		{`{"inner":{"A":1}}`, `unknown object member name "A"`},
		{`{"list":[{"a":1,"A":2}]}`, `unknown object member name "A"`},
		{`{"sequence":1} {}`, `invalid character '{' after top-level value`},
		{`{"sequence":1`, `unexpected EOF`},
		{"{\"run\":\"\xff\"}", `invalid UTF-8`},
		{``, `unexpected EOF`},
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
	f.Add([]byte(`{"sequence":1,"run":"x","Run":"y"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		_ = Unmarshal(data, &v)
		var d doc
		if Unmarshal(data, &d) != nil {
			return
		}
		// Accepted: every member name is exactly a field name.
		var m map[string]any
		if err := Unmarshal(data, &m); err != nil {
			t.Fatalf("accepted as doc, not as an object: %v", err)
		}
		for k := range m {
			switch k {
			case "sequence", "run", "inner", "list", "when", "mode":
			default:
				t.Fatalf("accepted member %q", k)
			}
		}
	})
}
