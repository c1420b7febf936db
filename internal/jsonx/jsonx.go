// Package jsonx decodes JSON from hostile sources strictly: a size cap before
// parsing, no duplicate object keys (encoding/json silently keeps the last
// one, so `{"sequence":1,"sequence":99}` would mean different things to
// different readers), no unknown fields, and nothing after the value.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned when the input exceeds the cap.
var ErrTooLarge = errors.New("input too large")

// Read reads at most max bytes from r and decodes them strictly into v.
func Read(r io.Reader, max int64, v any) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	}
	return data, Unmarshal(data, v)
}

// Unmarshal decodes data strictly into v.
func Unmarshal(data []byte, v any) error {
	if err := checkDuplicates(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// checkDuplicates walks the token stream and rejects an object that names
// the same key twice. Nesting is bounded by encoding/json itself.
func checkDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys   map[string]struct{}
		object bool
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{keys: map[string]struct{}{}, object: t == '{', expect: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				if _, dup := top.keys[t]; dup {
					return fmt.Errorf("duplicate key %q", t)
				}
				top.keys[t] = struct{}{}
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}
