package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"

	"airlock.dev/airlock/internal/jsonx"
)

// MarshalManifest encodes m deterministically (field order fixed by the
// struct, files sorted by the builder), indented, with a final newline:
// json.MarshalIndent's output with two-space indents.
func MarshalManifest(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	e, err := newManifestEncoder(&b, m)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		e.add(&f)
	}
	if err := e.finish(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// manifestEncoder writes a manifest whose files are added one at a time,
// so that the builder never holds the file list: everything but the files
// is known before the payload is written, and each file is added once it
// has been hashed. The bytes are exactly MarshalManifest's.
type manifestEncoder struct {
	w     io.Writer
	buf   []byte
	count int
	err   error
}

// newManifestEncoder writes everything of m but its files, which add
// appends.
func newManifestEncoder(w io.Writer, m *Manifest) (*manifestEncoder, error) {
	head := *m
	head.Files = []File{}
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	const tail = "[]\n}"
	if !bytes.HasSuffix(b, []byte(tail)) {
		return nil, errors.New("encode manifest: files are not its last field")
	}
	e := &manifestEncoder{w: w}
	e.write(b[:len(b)-len(tail)])
	return e, e.err
}

func (e *manifestEncoder) write(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

// add appends f, formatted as json.MarshalIndent formats an element of
// the files array (a test holds the two equal, every field set).
func (e *manifestEncoder) add(f *File) {
	b := e.buf[:0]
	if e.count == 0 {
		b = append(b, "[\n    {\n      \"path\": "...)
	} else {
		b = append(b, ",\n    {\n      \"path\": "...)
	}
	e.count++
	b = appendJSONString(b, f.Path)
	b = append(b, ",\n      \"type\": "...)
	b = appendJSONString(b, f.Type)
	b = append(b, ",\n      \"mode\": \""...)
	b = append(b, f.Mode.String()...)
	b = append(b, "\",\n      \"size\": "...)
	b = strconv.AppendInt(b, f.Size, 10)
	if f.SHA256 != "" {
		b = append(b, ",\n      \"sha256\": "...)
		b = appendJSONString(b, f.SHA256)
	}
	b = append(b, "\n    }"...)
	e.buf = b
	e.write(b)
}

// appendJSONString appends s as encoding/json writes a string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // not plain ASCII: leave the escaping to encoding/json
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// finish closes the files array and the document.
func (e *manifestEncoder) finish() error {
	if e.count == 0 {
		e.write([]byte("[]\n}\n"))
	} else {
		e.write([]byte("\n  ]\n}\n"))
	}
	return e.err
}

// ParseManifest decodes manifest.json strictly and validates it as hostile
// input: every path portable and local, entries sorted and unique (also
// under case folding), parents listed before children, steps referring to
// listed scripts and packages.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("manifest: larger than %d bytes", MaxManifestSize)
	}
	if err := jsonx.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	if !KnownFormat(m.FormatVersion) {
		return fmt.Errorf("format version %d, this airlock reads %d to %d", m.FormatVersion, MinFormatVersion, FormatVersion)
	}
	if !nameRule.valid(m.Name) || !versionRule.valid(m.Version) || !nameRule.valid(m.Channel) {
		return fmt.Errorf("invalid name %q, version %q or channel %q", m.Name, m.Version, m.Channel)
	}
	dirs, files, err := m.checkFiles()
	if err != nil {
		return err
	}
	if m.VariablesFile.Name != VariablesEntry || m.VariablesFile.Size < 0 || m.VariablesFile.Size > MaxVariablesSize || !isSHA256(m.VariablesFile.SHA256) {
		return fmt.Errorf("variablesFile: want %s of at most %d bytes with a sha256", VariablesEntry, MaxVariablesSize)
	}
	if err := m.checkVariables(); err != nil {
		return err
	}
	pkgs := map[string]bool{}
	for i, p := range m.Packages {
		if !nameRule.valid(p.Name) || pkgs[p.Name] {
			return fmt.Errorf("packages[%d]: invalid or duplicate name %q", i, p.Name)
		}
		if p.Root != "packages/"+p.Name || !dirs[p.Root] {
			return fmt.Errorf("packages[%d]: root %q is not the listed directory packages/%s", i, p.Root, p.Name)
		}
		if a := p.Archive; a != nil {
			if _, problem := cleanRelPath(a.Name); problem != "" || len(a.Name) > MaxPathLen || archiveFormatOf(a.Name) == 0 || a.Size < 0 || !isSHA256(a.SHA256) {
				return fmt.Errorf("packages[%d]: archive: want the relative path of a known kind of archive, its size and its sha256", i)
			}
		}
		pkgs[p.Name] = true
	}
	if err := m.validateImages(pkgs); err != nil {
		return err
	}
	if m.Delta != nil {
		if err := m.Delta.validate(m.Files); err != nil {
			return err
		}
	}
	return m.validateSteps(pkgs, files)
}

func (m *Manifest) checkFiles() (dirs, files map[string]bool, err error) {
	if len(m.Files) >= MaxEntries {
		return nil, nil, fmt.Errorf("%d files, at most %d allowed", len(m.Files), MaxEntries-1)
	}
	dirs, files = map[string]bool{}, map[string]bool{}
	folded := map[string]string{foldKey(VariablesEntry): VariablesEntry}
	prev := ""
	for i, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return nil, nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		if i > 0 && f.Path <= prev {
			return nil, nil, fmt.Errorf("files[%d]: %q is not sorted after %q (or is a duplicate)", i, f.Path, prev)
		}
		prev = f.Path
		if other, dup := folded[foldKey(f.Path)]; dup {
			return nil, nil, fmt.Errorf("files[%d]: %q collides with %q on case-insensitive file systems", i, f.Path, other)
		}
		folded[foldKey(f.Path)] = f.Path
		if parent := path.Dir(f.Path); parent != "." && !dirs[parent] {
			return nil, nil, fmt.Errorf("files[%d]: parent directory of %q is not listed before it", i, f.Path)
		}
		switch f.Type {
		case TypeDir:
			if f.Mode != 0o755 || f.Size != 0 || f.SHA256 != "" {
				return nil, nil, fmt.Errorf("files[%d]: directory %q must have mode 0755, size 0 and no sha256", i, f.Path)
			}
			dirs[f.Path] = true
		case TypeFile:
			if f.Mode != 0o644 && f.Mode != 0o755 {
				return nil, nil, fmt.Errorf("files[%d]: file %q has mode %04o, want 0644 or 0755", i, f.Path, uint32(f.Mode))
			}
			if f.Size < 0 || !isSHA256(f.SHA256) {
				return nil, nil, fmt.Errorf("files[%d]: file %q needs a size and a sha256", i, f.Path)
			}
			files[f.Path] = true
		default:
			return nil, nil, fmt.Errorf("files[%d]: %q has type %q, want file or dir", i, f.Path, f.Type)
		}
	}
	return dirs, files, nil
}

func (m *Manifest) checkVariables() error {
	seen := map[string]bool{}
	for i, v := range m.Variables {
		if !variableRule.valid(v.Name) || seen[v.Name] {
			return fmt.Errorf("variables[%d]: invalid or duplicate name %q", i, v.Name)
		}
		seen[v.Name] = true
	}
	return nil
}

func (m *Manifest) validateSteps(pkgs, files map[string]bool) error {
	if len(m.Steps) == 0 {
		return errors.New("no steps")
	}
	names := map[string]bool{}
	for i, s := range m.Steps {
		if !stepNameRule.valid(s.Name) || names[s.Name] {
			return fmt.Errorf("steps[%d]: invalid or duplicate name %q", i, s.Name)
		}
		names[s.Name] = true
		if err := validateStep(&s); err != nil {
			return fmt.Errorf("steps[%d] %q: %w", i, s.Name, err)
		}
		if problem := stepInPayload(&s, pkgs, files); problem != "" {
			return fmt.Errorf("steps[%d] %q: %s", i, s.Name, problem)
		}
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
