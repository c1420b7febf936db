// Package jsonx decodes JSON from hostile sources strictly: a size cap
// before parsing, and then encoding/json/v2 with every member name matched
// exactly. An object may not name the same member twice (encoding/json of
// Go 1 keeps the last, so `{"sequence":1,"sequence":99}` would mean
// different things to different readers), nor a member that is not exactly
// a field name — also not one that differs only in case (Go 1 matched
// `"Run"` to the field run, so `{"run":"true","Run":"rm -rf /"}` ran what a
// reviewer reading the file with jq did not see). Invalid UTF-8 and anything
// after the value are errors too.
//
// Only decoding lives here: writers keep encoding/json, whose output (with
// omitempty and omitzero) the formats are defined by.
package jsonx

import (
	"errors"
	"fmt"
	"io"

	"encoding/json/jsontext"
	json "encoding/json/v2"
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

// Unmarshal decodes data strictly into v: member names match field names
// exactly (case included), unknown and duplicate members are errors, and
// data must hold exactly one JSON value.
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v,
		json.RejectUnknownMembers(true),
		json.MatchCaseInsensitiveNames(false),
		jsontext.AllowDuplicateNames(false),
		jsontext.AllowInvalidUTF8(false))
}
