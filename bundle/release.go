package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"airlock.dev/airlock/internal/capped"
)

// Names and limits of airlock.yaml; the rules it shares with manifest.json
// are in rules.go and stepkinds.go.
const (
	releaseFileName   = "airlock.yaml"
	releaseAPIVersion = "airlock/v1"

	maxReleaseSize      = 1 << 20 // airlock.yaml
	maxValueFileSize    = 1 << 20 // a variable's fromFile
	maxReportedProblems = 100     // problems reported by one error

	releaseDurationHint = "want a Go duration such as 90s, 10m or 1h"
)

// Keys of each mapping, in the order the documentation lists them (those
// of a package and of a step come from their tables: inputkinds.go,
// stepkinds.go).
var (
	releaseKeys     = []string{"apiVersion", "name", "version", "channel", "targets", "expires", "change", "packages", "images", "variables", "steps"}
	changeKeys      = []string{"ticket", "reason", "securityImpact", "testEvidence", "backout"}
	variableKeys    = []string{"value", "fromEnv", "fromFile", "sensitive", "allowLiteral", "byZone", "byRole", "byHost", "description"}
	fileRuleKeys    = []string{"match", "mode", "owner", "group"}
	healthCheckKeys = []string{"http", "tcp", "status", "contains", "caFile", "timeout", "interval"}
	yamlStringTags  = []string{"!!str", "!!int", "!!float", "!!bool", "!!timestamp"}
)

// Release is a release manifest (airlock.yaml), decoded and validated.
type Release struct {
	File       string        // path of airlock.yaml as given
	Dir        string        // directory containing it (absolute after LoadRelease)
	APIVersion string        // "airlock/v1"
	Name       string        // release name
	Version    string        // release version
	Channel    string        // anti-rollback channel; "default" when not set
	Targets    []string      // "zone:NAME", "host:NAME" or "role:NAME"; at least one zone
	Expires    time.Duration // validity from build time; 336h when not set
	Change     Change        // change-management reference
	Packages   []Package     // files and directories the bundle carries
	Images     []Image       // container images and OCI artifacts the bundle carries
	Variables  []Variable    // in file order
	Steps      []Step        // in run order

	// pos maps field paths ("steps[2].run") to where ParseRelease found them,
	// so that Check and ResolveValues can point into airlock.yaml.
	pos map[string]yamlPos
	// tree is what Check found in the release directory.
	tree *tree
}

// Variable is a value steps and substituted files can refer to as #{Name}.
// At most one of Value, FromEnv and FromFile is set.
type Variable struct {
	Name         string            // unique; "Airlock..." and "Steps" are reserved
	Value        string            // literal value
	FromEnv      string            // environment variable read at build time
	FromFile     string            // file read at build time (relative to Release.Dir, or absolute)
	Sensitive    bool              // masked in output, never in the public manifest
	AllowLiteral bool              // a sensitive variable may have a literal value
	ByZone       map[string]string // zone name → value that overrides Value in that zone
	ByRole       map[string]string // host role → value that overrides ByZone on hosts with that role
	ByHost       map[string]string // host name → value that overrides ByRole on that host
	Description  string            // for people
}

// ReleaseError is one problem with a release manifest or a file it names.
// Error returns "airlock.yaml:12:5: steps[2].timeout: invalid duration ...".
type ReleaseError struct {
	File  string // airlock.yaml as given, or the file the problem is in
	Line  int    // 1-based; 0 when unknown
	Col   int    // 1-based, in characters; 0 when unknown
	Field string // path of the field, such as steps[2].timeout; "" for the whole file
	Msg   string // lowercase; never holds a variable's value
}

// Error formats e as file:line:col: field: message.
func (e *ReleaseError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// yamlPos is where a field's value starts in airlock.yaml. text, when not
// 0, is the column from which the value appears verbatim on that line.
type yamlPos struct {
	line, col, text int
}

// ParseRelease decodes and validates src without touching the file system
// (safe to fuzz). Every problem found is a *ReleaseError; they are sorted by
// position and joined with errors.Join.
func ParseRelease(filename string, src []byte) (*Release, error) {
	d := &releaseDecoder{releaseProblems: releaseProblems{file: filename}, src: src, pos: map[string]yamlPos{}}
	if len(src) > maxReleaseSize {
		d.errorf(nil, "", "file is larger than the 1 MiB limit")
		return nil, d.err()
	}
	root := d.document()
	if root == nil {
		return nil, d.err()
	}
	r := d.release(root)
	if len(d.errs) > 0 {
		return nil, d.err()
	}
	r.File, r.pos = filename, d.pos
	return r, nil
}

// LoadRelease reads path (an airlock.yaml file, or a directory containing
// airlock.yaml), runs ParseRelease, sets Dir to the absolute directory, then
// runs Check.
func LoadRelease(path string) (*Release, error) {
	file := path
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		file = filepath.Join(path, releaseFileName)
	}
	src, err := readFileAtMost(file, maxReleaseSize)
	if err != nil {
		return nil, err
	}
	r, err := ParseRelease(file, src)
	if err != nil {
		return nil, err
	}
	if r.Dir, err = filepath.Abs(filepath.Dir(file)); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return r, nil
}

// readFileAtMost reads file, or its first limit+1 bytes when it is larger.
func readFileAtMost(file string, limit int64) ([]byte, error) {
	f, _, err := capped.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// releaseProblems collects ReleaseErrors.
type releaseProblems struct {
	file string
	errs []*ReleaseError
}

// add records a problem at line:col of file.
func (p *releaseProblems) add(file string, line, col int, field, format string, args ...any) {
	p.errs = append(p.errs, &ReleaseError{File: file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems, those in the manifest first and by position,
// joined; nil when there are none.
func (p *releaseProblems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if (a.File == p.file) != (b.File == p.file) {
			return a.File == p.file
		}
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	errs := make([]error, 0, min(len(p.errs), maxReportedProblems+1))
	for i, e := range p.errs {
		if i == maxReportedProblems {
			errs = append(errs, &ReleaseError{File: p.file, Msg: fmt.Sprintf("%d more problems not shown", len(p.errs)-i)})
			break
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// ResolveValues returns name → value of every variable at build time:
// FromEnv through getenv (os.Getenv when nil; an unset or empty variable is
// an error), FromFile read from disk (at most 1 MiB, one trailing "\n" or
// "\r\n" removed), else Value. Errors never show a value.
func (r *Release) ResolveValues(getenv func(string) string) (map[string]string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := &releaseChecker{releaseProblems: releaseProblems{file: r.File}, r: r}
	values := make(map[string]string, len(r.Variables))
	for _, v := range r.Variables {
		field := "variables." + v.Name
		switch {
		case v.FromEnv != "":
			s := getenv(v.FromEnv)
			if s == "" {
				c.at(field+".fromEnv", "environment variable %s is not set or is empty", v.FromEnv)
				continue
			}
			values[v.Name] = s
		case v.FromFile != "":
			s, err := r.readValue(v.FromFile)
			if err != nil {
				c.at(field+".fromFile", "%v", err)
				continue
			}
			values[v.Name] = s
		default:
			values[v.Name] = v.Value
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return values, nil
}

// readValue reads a variable's value from file (relative to r.Dir).
func (r *Release) readValue(file string) (string, error) {
	if !filepath.IsAbs(file) {
		file = filepath.Join(r.Dir, filepath.FromSlash(file))
	}
	b, err := readFileAtMost(file, maxValueFileSize)
	if err != nil {
		return "", err
	}
	if len(b) > maxValueFileSize {
		return "", fmt.Errorf("%s is larger than the 1 MiB limit for a value", file)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t, nil
	}
	return strings.TrimSuffix(s, "\n"), nil
}
