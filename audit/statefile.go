package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/dsse"
	"airlock.dev/airlock/internal/jsonx"
	"airlock.dev/airlock/internal/keys"
	"airlock.dev/airlock/internal/names"
)

// The audit state file (--state) is a DSSE envelope signed by the
// auditor's state key (--state-key): its payload, of this type, is the
// State as JSON (doc/schemas/audit-state.schema.json). The audit reads it
// only when the signature verifies with the state key's public half, and
// signs the state it hands the next audit with the same key.
const StatePayloadType = "application/vnd.airlock.audit-state+json"

// Caps of the state file: its payload, and the envelope around it
// (base64 and a few signatures).
const (
	MaxStateSize         = 16 << 20
	maxStateEnvelopeSize = MaxStateSize/3*4 + 64<<10
	// MaxStateFindings bounds the findings a state lists for ack to check
	// IDs against; StateFindingsOmitted counts the rest.
	MaxStateFindings = 10000
	// MaxNoteSize bounds an acknowledgement's note.
	MaxNoteSize = 4096
)

// ErrStateUntrusted is wrapped by a [StateError]: the audit state is
// missing, or not one the state key signed.
var ErrStateUntrusted = errors.New("the audit state cannot be trusted")

// StateError says why an audit state file cannot be used: it does not
// exist (Missing), or it is not a state the state key signed. It wraps
// ErrStateUntrusted and ErrProblems (exit 3: the evidence of the last
// audit is gone or was changed) and the cause.
type StateError struct {
	Path    string
	Missing bool
	Err     error
}

func (e *StateError) Error() string {
	if e.Missing {
		return fmt.Sprintf("audit state %s does not exist", e.Path)
	}
	return fmt.Sprintf("audit state %s: %v", e.Path, e.Err)
}

func (e *StateError) Unwrap() []error { return []error{ErrStateUntrusted, ErrProblems, e.Err} }

// StateFinding is a finding of the audit that wrote a state, as the state
// lists it: what `airlock audit ack` checks an ID against.
type StateFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Kind     string `json:"kind"`
}

// LoadState reads the audit state at path and checks that key signed
// it. A file that does not exist is a StateError with Missing set (which
// also wraps fs.ErrNotExist); an empty, edited, unsigned, foreign or
// malformed one is a StateError; other errors (a folder that cannot be
// read) are returned as they are.
func LoadState(path string, key *keys.PublicKey) (*State, error) {
	data, err := capped.ReadFile(path, maxStateEnvelopeSize)
	var tooLarge *capped.TooLargeError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &StateError{Path: path, Missing: true, Err: err}
	case errors.As(err, &tooLarge):
		return nil, &StateError{Path: path, Err: err}
	case err != nil:
		return nil, err
	}
	s, err := ReadState(bytes.NewReader(data), key)
	if err != nil {
		return nil, &StateError{Path: path, Err: err}
	}
	return s, nil
}

// ReadState decodes a signed state strictly and verifies its signature
// with key.
func ReadState(r io.Reader, key *keys.PublicKey) (*State, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStateEnvelopeSize+1))
	if err != nil {
		return nil, err
	}
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, errors.New("the file is empty: it is not the state the last audit wrote")
	case len(data) > maxStateEnvelopeSize:
		return nil, fmt.Errorf("larger than %d bytes", maxStateEnvelopeSize)
	case unsignedState(data):
		return nil, errors.New("an unsigned state (format version 1, from before audit states were signed): its heads cannot be trusted; " +
			"move it away and audit with --first-audit, giving each head it lists with --expect ZONE/HOST=SHA256 if you trust them")
	}
	env, err := dsse.Read(bytes.NewReader(data), maxStateEnvelopeSize)
	if err != nil {
		return nil, fmt.Errorf("not a signed audit state: %w", err)
	}
	if env.PayloadType != StatePayloadType {
		return nil, fmt.Errorf("payload type %q, want %q", env.PayloadType, StatePayloadType)
	}
	v, err := dsse.Verify(env, []*keys.PublicKey{key})
	if err != nil {
		return nil, fmt.Errorf("no signature verifies with the state key %s: the state was changed after it was signed, or another key signed it", key.ID())
	}
	if len(v.Payload) > MaxStateSize {
		return nil, fmt.Errorf("payload larger than %d bytes", MaxStateSize)
	}
	var s State
	if err := jsonx.Unmarshal(v.Payload, &s); err != nil {
		return nil, fmt.Errorf("signed payload: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	s.sha256, s.keyID = hexSHA256(v.Payload), key.ID()
	return &s, nil
}

// unsignedState reports whether data is a state of format version 1: a
// JSON object with a formatVersion, not an envelope.
func unsignedState(data []byte) bool {
	var probe struct {
		FormatVersion *int `json:"formatVersion"`
	}
	return json.Unmarshal(data, &probe) == nil && probe.FormatVersion != nil
}

func (s *State) validate() error {
	switch {
	case s.FormatVersion != StateFormatVersion:
		return fmt.Errorf("format version %d, this airlock reads %d", s.FormatVersion, StateFormatVersion)
	case s.Audits < 1:
		return fmt.Errorf("audits %d: want 1 or more", s.Audits)
	case s.PreviousSHA256 != "" && !isSHA256(s.PreviousSHA256):
		return fmt.Errorf("previousSha256 %q is not a SHA-256", s.PreviousSHA256)
	case s.FindingsOmitted < 0:
		return fmt.Errorf("findingsOmitted %d", s.FindingsOmitted)
	}
	seen := map[chainKey]bool{}
	for _, h := range s.Heads {
		if !names.Valid(h.Zone) || h.Seq == 0 {
			return fmt.Errorf("head %q seq %d: want a zone name and a seq", h.Zone, h.Seq)
		}
		if !isSHA256(h.SHA256) {
			return fmt.Errorf("head of %s: sha256 %q is not a SHA-256", h.Zone, h.SHA256)
		}
		if h.Host != "" && !names.Valid(h.Host) {
			return fmt.Errorf("head of zone %s: host %q is not a host name", h.Zone, h.Host)
		}
		if seen[h.key()] {
			return fmt.Errorf("two heads for zone %s%s", h.Zone, orNone(" host ", h.Host))
		}
		seen[h.key()] = true
	}
	if len(s.Findings) > MaxStateFindings {
		return fmt.Errorf("%d findings, at most %d", len(s.Findings), MaxStateFindings)
	}
	for _, f := range s.Findings {
		if !ValidID(f.ID) || f.Kind == "" || !slices.Contains([]string{SeverityError, SeverityWarning, SeverityInfo}, f.Severity) {
			return fmt.Errorf("finding %q: want an ID, a kind and a severity", f.ID)
		}
	}
	acked := map[string]bool{}
	for _, k := range s.Acks {
		if err := checkAck(k); err != nil {
			return err
		}
		if acked[k.ID] {
			return fmt.Errorf("finding %s acknowledged twice", k.ID)
		}
		acked[k.ID] = true
	}
	return nil
}

func checkAck(k Acknowledgement) error {
	switch {
	case !ValidID(k.ID):
		return fmt.Errorf("acknowledgement of %q: not a finding ID", k.ID)
	case strings.TrimSpace(k.Note) == "" || len(k.Note) > MaxNoteSize || !utf8.ValidString(k.Note):
		return fmt.Errorf("acknowledgement of %s: want a note of 1 to %d bytes of UTF-8", k.ID, MaxNoteSize)
	case k.Kind == "" || k.KeyID == "" || k.At.IsZero():
		return fmt.Errorf("acknowledgement of %s: want its kind, key and time", k.ID)
	}
	return nil
}

func isSHA256(s string) bool {
	_, ok := parseDigest(s)
	return ok
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Payload is the state as its envelope signs it: indented JSON with a
// trailing newline. Its SHA-256 ([State.SHA256]) names the state in the
// report and in the next state (previousSha256).
func (s *State) Payload() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SHA256 is the hex SHA-256 of the state's signed payload: of the state
// read, or of the state an audit hands the next.
func (s *State) SHA256() string { return s.sha256 }

// WriteSigned writes the state as a DSSE envelope signed by key.
func (s *State) WriteSigned(w io.Writer, key *keys.Signer) error {
	payload, err := s.Payload()
	if err != nil {
		return err
	}
	env, err := dsse.Sign(StatePayloadType, payload, key)
	if err != nil {
		return fmt.Errorf("sign audit state: %w", err)
	}
	b, err := dsse.Marshal(env)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Acknowledge records the acknowledgement of finding id with note, by
// the state key key, at now: the finding must be one the audit that wrote
// the state listed (unless the state could not list them all), and not
// acknowledged already. The state then names the state it was as its
// previous one.
func (s *State) Acknowledge(id, note string, key *keys.PublicKey, now time.Time) (Acknowledgement, error) {
	if !ValidID(id) {
		return Acknowledgement{}, fmt.Errorf("%q is not a finding ID (ZONE/HOST/SEQ/KIND, as the report's ID column shows it)", id)
	}
	if i := slices.IndexFunc(s.Acks, func(k Acknowledgement) bool { return k.ID == id }); i >= 0 {
		k := s.Acks[i]
		return Acknowledgement{}, fmt.Errorf("finding %s was acknowledged already, %s: %s", id, stamp(k.At), k.Note)
	}
	k := Acknowledgement{ID: id, Note: note, KeyID: key.ID(), At: now.UTC()}
	if i := slices.IndexFunc(s.Findings, func(f StateFinding) bool { return f.ID == id }); i >= 0 {
		k.Kind, k.Severity = s.Findings[i].Kind, s.Findings[i].Severity
	} else if s.FindingsOmitted == 0 {
		return Acknowledgement{}, fmt.Errorf("the last audit (%s) found nothing with ID %s: acknowledge a finding its report lists", stamp(s.UpdatedAt), id)
	} else {
		k.Kind = kindOfID(id)
		k.Severity = infoOf(k.Kind).severity
	}
	if err := checkAck(k); err != nil {
		return Acknowledgement{}, err
	}
	s.Acks = append(s.Acks, k)
	s.PreviousSHA256, s.UpdatedAt = s.sha256, now.UTC()
	payload, err := s.Payload()
	if err != nil {
		return Acknowledgement{}, err
	}
	s.sha256 = hexSHA256(payload)
	return k, nil
}

// kindOfID is the KIND part of a finding ID.
func kindOfID(id string) string {
	parts := strings.SplitN(id, "/", 5)
	if len(parts) < 4 {
		return ""
	}
	kind, _, _ := strings.Cut(parts[3], "~")
	return kind
}
