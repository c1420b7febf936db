package steprun

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"airlock.dev/airlock/internal/capped"
)

// newOutputFile creates an empty output file (mode 0600) in dir and returns
// its absolute path.
func newOutputFile(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "airlock-output-*")
	if err != nil {
		return "", fmt.Errorf("create output file: %w", err)
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("create output file: %w", err)
	}
	// The step may run in another directory, so the path must be absolute.
	abs, err := filepath.Abs(name)
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("create output file: %w", err)
	}
	return abs, nil
}

// readOutputs reads and parses the output file at path. The step may have
// replaced the file, so anything but a regular file (a FIFO would block) is
// refused and the size is capped.
func readOutputs(path string) (map[string]string, map[string]bool, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w: not a regular file", ErrOutput)
	}
	f, _, err := capped.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxOutputSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if len(data) > MaxOutputSize {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrOutput, MaxOutputSize)
	}
	return parseOutputs(string(data))
}

// parseOutputs parses name=value lines; "sensitive name=value" marks a
// value to be masked like a sensitive variable. Blank lines and lines
// starting with # are skipped; a later value replaces an earlier one.
// Errors name the line, never its content, which may be secret.
func parseOutputs(data string) (map[string]string, map[string]bool, error) {
	out, sensitive := make(map[string]string), make(map[string]bool)
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		rest, secret := strings.CutPrefix(line, SensitivePrefix)
		name, value, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%w: line %d: no \"=\"", ErrOutput, i+1)
		}
		if !validName(name) {
			return nil, nil, fmt.Errorf("%w: line %d: invalid variable name", ErrOutput, i+1)
		}
		out[name] = value
		if secret {
			sensitive[name] = true
		} else {
			delete(sensitive, name)
		}
	}
	return out, sensitive, nil
}

// validName reports whether name matches [A-Za-z_][A-Za-z0-9_]{0,127}.
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
