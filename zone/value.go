package zone

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/capped"
)

// MaxValueFileSize caps a file that holds a zone value ({fromFile: PATH}).
const MaxValueFileSize = 64 << 10

// Value is a zone's value for a variable, in trust.yaml's variables or a
// --var-file: a literal, written as a scalar (Port: 8080), or the content
// of a file kept in the zone, written {fromFile: PATH} (DbPassword:
// {fromFile: secrets/db-password}), so that a secret needs no literal in
// either file. A relative PATH is relative to the file that names it.
type Value struct {
	Literal  string
	FromFile string // the path of the file that holds the value ("" for a literal)
}

// UnmarshalYAML reads a scalar, or a {fromFile: PATH} mapping, strictly.
func (v *Value) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*v = Value{}
		return n.Decode(&v.Literal)
	case yaml.MappingNode:
		if len(n.Content) != 2 || n.Content[0].Value != "fromFile" {
			return fmt.Errorf("line %d: a value is a scalar or {fromFile: PATH}", n.Line)
		}
		p := n.Content[1]
		if p.Kind != yaml.ScalarNode || p.ShortTag() != "!!str" || p.Value == "" {
			return fmt.Errorf("line %d: fromFile: want the path of a file", p.Line)
		}
		*v = Value{FromFile: p.Value}
		return nil
	}
	return fmt.Errorf("line %d: a value is a scalar or {fromFile: PATH}", n.Line)
}

// MarshalYAML writes a literal as a scalar, else {fromFile: PATH}.
func (v Value) MarshalYAML() (any, error) {
	if v.FromFile == "" {
		return v.Literal, nil
	}
	return struct {
		FromFile string `yaml:"fromFile"`
	}{v.FromFile}, nil
}

// Resolve makes a relative FromFile path relative to dir, the folder of the
// file that names it.
func (v Value) Resolve(dir string) Value {
	if v.FromFile != "" && !filepath.IsAbs(v.FromFile) {
		v.FromFile = filepath.Join(dir, v.FromFile)
	}
	return v
}

// ErrValueFile means a file named by {fromFile: PATH} may not hold a zone
// value: a link, not a regular file, writable by others, too large or not
// UTF-8 text. The error names the file, never its content.
var ErrValueFile = errors.New("refusing the value file")

// Read returns the value: the literal, or the content of FromFile without
// one final line break (as echo or an editor leaves it). The file must be
// a regular file, not a symbolic link, not writable by group or others
// (Unix), at most MaxValueFileSize bytes of UTF-8 text: whoever can
// replace or rewrite it chooses the value.
func (v Value) Read() (string, error) {
	if v.FromFile == "" {
		return v.Literal, nil
	}
	return readValueFile(v.FromFile)
}

func readValueFile(path string) (string, error) {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s", ErrValueFile, path, fmt.Sprintf(format, a...))
	}
	before, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("value file: %w", err)
	}
	if before.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return "", refuse("it is a symbolic link (to %s): name the file itself", target)
	}
	if !before.Mode().IsRegular() {
		return "", refuse("not a regular file")
	}
	f, st, err := capped.Open(path)
	if err != nil {
		return "", fmt.Errorf("value file: %w", err)
	}
	defer f.Close()
	if !os.SameFile(before, st) {
		return "", refuse("it was replaced while being opened")
	}
	if perm := st.Mode().Perm(); runtime.GOOS != "windows" && perm&0o022 != 0 {
		return "", refuse("it is writable by group or others (mode %04o): whoever can write it chooses the value (chmod go-w)", perm)
	}
	data, err := capped.Read(f, st, path, MaxValueFileSize)
	var tooLarge *capped.TooLargeError
	if errors.As(err, &tooLarge) {
		return "", refuse("larger than %d bytes", MaxValueFileSize)
	}
	if err != nil {
		return "", fmt.Errorf("value file %s: %w", path, err)
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return "", refuse("not UTF-8 text")
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	return s, nil
}
