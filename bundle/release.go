package bundle

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/internal/subst"
)

// Limits and defaults of the release manifest.
const (
	releaseFileName   = "airlock.yaml"
	releaseAPIVersion = "airlock/v1"

	maxReleaseSize      = 1 << 20  // airlock.yaml
	maxValueFileSize    = 1 << 20  // a variable's fromFile
	maxSubstituteSize   = 64 << 20 // a file matched by a substitute glob
	maxNoteLength       = 200      // change.ticket, change.reason
	maxReportedProblems = 100      // problems reported by one error

	releaseDefaultChannel = "default"
	releaseDefaultExpires = 336 * time.Hour
	stepDefaultKeep       = 3
	stepDefaultWhen       = "success"
	stepDefaultTimeout    = 15 * time.Minute
	stepDefaultRetryDelay = 5 * time.Second

	releaseDurationHint = "want a Go duration such as 90s, 10m or 1h"
)

// Formats of names in airlock.yaml (manifest.json uses the same ones).
var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	versionRE  = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`)
	variableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	stepNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _-]{0,62}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)
)

// What each format allows, for error messages.
const (
	releaseNameWant     = `lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters`
	releaseVersionWant  = `letters, digits, ".", "+", "_" or "-", starting with a letter or digit, at most 64 characters`
	releaseVariableWant = `letters, digits and "_", not starting with a digit, at most 128 characters`
	releaseStepNameWant = `letters, digits, spaces, "_" or "-", starting with a letter or digit, at most 63 characters`
	releaseEnvNameWant  = `an environment variable name such as PAYMENTS_DB_PASSWORD`
)

// Keys of each mapping, in the order the documentation lists them.
var (
	releaseKeys    = []string{"apiVersion", "name", "version", "channel", "targets", "expires", "change", "packages", "variables", "steps"}
	changeKeys     = []string{"ticket", "reason"}
	packageKeys    = []string{"name", "path"}
	variableKeys   = []string{"value", "fromEnv", "fromFile", "sensitive", "allowLiteral", "byZone", "description"}
	stepKeys       = []string{"name", "run", "script", "deploy", "to", "substitute", "keep", "shell", "when", "timeout", "retries", "retryDelay", "continueOnError"}
	stepActions    = []string{"run", "script", "deploy"}
	deployOnly     = []string{"to", "substitute", "keep"}
	stepShells     = []string{"sh", "bash", "pwsh", "powershell", "cmd"}
	stepWhens      = []string{"success", "failure", "always"}
	yamlStringTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!timestamp"}
)

// builtinNames are the #{...} names airlock defines at apply time.
var builtinNames = []string{
	"Airlock.Release.Name", "Airlock.Release.Version", "Airlock.Release.Channel",
	"Airlock.Bundle.Id", "Airlock.Bundle.Sequence", "Airlock.Zone", "Airlock.Host",
	"Airlock.Deploy.Path", "Airlock.Step.Name",
}

// Release is a release manifest (airlock.yaml), decoded and validated.
type Release struct {
	File       string        // path of airlock.yaml as given
	Dir        string        // directory containing it (absolute after LoadRelease)
	APIVersion string        // "airlock/v1"
	Name       string        // release name
	Version    string        // release version
	Channel    string        // anti-rollback channel; "default" when not set
	Targets    []string      // "zone:NAME" or "host:NAME"; at least one zone
	Expires    time.Duration // validity from build time; 336h when not set
	Change     Change        // change-management reference
	Packages   []Package     // files and directories the bundle carries
	Variables  []Variable    // in file order
	Steps      []Step        // in run order

	// pos maps field paths ("steps[2].run") to where ParseRelease found them,
	// so that Check and ResolveValues can point into airlock.yaml.
	pos map[string]yamlPos
}

// Package is a file or directory the bundle carries.
type Package struct {
	Name string // same format as Release.Name
	Path string // relative to Release.Dir, slash-separated and clean
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
	Description  string            // for people
}

// Step is one thing the applier does: exactly one of Run, Script and Deploy is set.
type Step struct {
	Name            string        // unique; used in #{Steps.<name>.<output>}
	Run             string        // inline command
	Script          string        // script file, relative to Release.Dir
	Deploy          string        // name of the package to deploy
	To              string        // deploy target directory (absolute, or containing #{...})
	Substitute      []string      // path.Match globs, relative to the package root
	Keep            int           // releases a deploy keeps; 3 for deploy steps when not set
	Shell           string        // "", sh, bash, pwsh, powershell or cmd
	When            string        // success (default), failure or always
	Timeout         time.Duration // 15m when not set
	Retries         int           // extra attempts after a failure
	RetryDelay      time.Duration // base of the exponential backoff; 5s when not set
	ContinueOnError bool          // a failure does not fail the release
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
	f, err := os.Open(file)
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

// releaseDecoder turns the YAML node tree of airlock.yaml into a Release.
type releaseDecoder struct {
	releaseProblems
	src        []byte
	lineStarts []int // offsets of the lines of src, built when first needed
	pos        map[string]yamlPos
}

// errorf records a problem at n (nil: the whole file).
func (d *releaseDecoder) errorf(n *yaml.Node, field, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.add(d.file, line, col, field, format, args...)
}

// yamlLineRE matches the position prefix of the YAML parser's errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError records an error of the YAML parser.
func (d *releaseDecoder) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.add(d.file, line, 0, "", "invalid YAML: %s", m[2])
		return
	}
	d.add(d.file, 0, 0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// document parses src as exactly one YAML document and returns its root.
func (d *releaseDecoder) document() *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(d.src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil || len(doc.Content) == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			d.errorf(nil, "", "empty file: want a release manifest starting with apiVersion: %s", releaseAPIVersion)
		} else {
			d.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.yamlError(err)
	default:
		d.errorf(&extra, "", "a second YAML document is not allowed: airlock.yaml holds one release")
	}
	return doc.Content[0]
}

// release decodes the top-level mapping.
func (d *releaseDecoder) release(n *yaml.Node) *Release {
	r := &Release{Channel: releaseDefaultChannel, Expires: releaseDefaultExpires}
	f := d.fields(n, "", releaseKeys, "apiVersion", "name", "version", "targets", "steps")
	if f == nil {
		return r
	}
	if v := f["apiVersion"]; v != nil {
		r.APIVersion = d.apiVersion(v)
	}
	if v := f["name"]; v != nil {
		r.Name = d.match(v, "name", "name", nameRE, releaseNameWant)
	}
	if v := f["version"]; v != nil {
		r.Version = d.match(v, "version", "version", versionRE, releaseVersionWant)
	}
	if v := f["channel"]; v != nil {
		r.Channel = d.match(v, "channel", "channel", nameRE, releaseNameWant)
	}
	if v := f["targets"]; v != nil {
		r.Targets = d.targets(v)
	}
	if v := f["expires"]; v != nil {
		r.Expires = d.duration(v, "expires", time.Minute, 8760*time.Hour)
	}
	if v := f["change"]; v != nil {
		r.Change = d.change(v)
	}
	if v := f["packages"]; v != nil {
		r.Packages = d.packages(v)
	}
	if v := f["variables"]; v != nil {
		r.Variables = d.variables(v, zonesOf(r.Targets))
	}
	if v := f["steps"]; v != nil {
		r.Steps = d.steps(v, r.Packages)
	}
	return r
}

func (d *releaseDecoder) apiVersion(n *yaml.Node) string {
	s, ok := d.scalar(n, "apiVersion")
	if ok && s != releaseAPIVersion {
		d.errorf(n, "apiVersion", "unsupported version %s (want %s)", quoteShort(s), releaseAPIVersion)
	}
	return s
}

// targets decodes the list of zone: and host: targets.
func (d *releaseDecoder) targets(n *yaml.Node) []string {
	items := d.list(n, "targets")
	var out []string
	seen := map[string]int{}
	zones, bad := 0, false
	for i, item := range items {
		field := indexField("targets", i)
		s, ok := d.scalar(item, field)
		kind, name, _ := strings.Cut(s, ":")
		switch {
		case !ok:
			bad = true
		case kind != "zone" && kind != "host" || !nameRE.MatchString(name):
			d.errorf(item, field, "invalid target %s (want zone:NAME or host:NAME, NAME of %s)", quoteShort(s), releaseNameWant)
			bad = true
		case seen[s] > 0:
			d.errorf(item, field, "duplicate target %s (first at line %d)", quoteShort(s), seen[s])
		default:
			seen[s] = item.Line
			out = append(out, s)
			if kind == "zone" {
				zones++
			}
		}
	}
	if zones == 0 && !bad && (n.Kind == yaml.SequenceNode || isYAMLNull(n)) {
		d.errorf(n, "targets", "at least one zone:NAME target is required")
	}
	return out
}

// zonesOf returns the zone names among targets.
func zonesOf(targets []string) map[string]bool {
	zones := map[string]bool{}
	for _, t := range targets {
		if z, ok := strings.CutPrefix(t, "zone:"); ok {
			zones[z] = true
		}
	}
	return zones
}

func (d *releaseDecoder) change(n *yaml.Node) Change {
	var c Change
	f := d.fields(n, "change", changeKeys)
	if v := f["ticket"]; v != nil {
		c.Ticket = d.note(v, "change.ticket")
	}
	if v := f["reason"]; v != nil {
		c.Reason = d.note(v, "change.reason")
	}
	return c
}

// note decodes a short single-line text.
func (d *releaseDecoder) note(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field)
	switch {
	case !ok:
	case utf8.RuneCountInString(s) > maxNoteLength:
		d.errorf(n, field, "too long: %d characters (want at most %d)", utf8.RuneCountInString(s), maxNoteLength)
	case strings.ContainsFunc(s, unicode.IsControl):
		d.errorf(n, field, "must not contain control characters such as line breaks or tabs")
	}
	return s
}

func (d *releaseDecoder) packages(n *yaml.Node) []Package {
	items := d.list(n, "packages")
	var out []Package
	seen := map[string]int{}
	for i, item := range items {
		field := indexField("packages", i)
		f := d.fields(item, field, packageKeys, "name", "path")
		var p Package
		if v := f["name"]; v != nil {
			p.Name = d.match(v, field+".name", "package name", nameRE, releaseNameWant)
			if line := seen[p.Name]; line > 0 {
				d.errorf(v, field+".name", "duplicate package name %s (first at line %d)", quoteShort(p.Name), line)
			}
			seen[p.Name] = v.Line
		}
		if v := f["path"]; v != nil {
			p.Path = d.relPath(v, field+".path")
		}
		out = append(out, p)
	}
	return out
}

// relPath decodes a path relative to the directory of airlock.yaml.
func (d *releaseDecoder) relPath(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field)
	if !ok {
		return s
	}
	clean, problem := cleanRelPath(s)
	if problem != "" {
		d.errorf(n, field, "%s %s", quoteShort(s), problem)
	}
	return clean
}

// cleanRelPath returns p cleaned, or why p is not a slash-separated path
// inside the release directory.
func cleanRelPath(p string) (string, string) {
	switch {
	case p == "":
		return p, "is empty (want a path relative to the directory of airlock.yaml)"
	case strings.ContainsFunc(p, unicode.IsControl):
		return p, "must not contain control characters"
	case strings.Contains(p, `\`):
		return p, `must use "/" to separate directories, not "\"`
	case path.IsAbs(p) || len(p) >= 2 && p[1] == ':' && isASCIILetter(p[0]):
		return p, "is absolute (want a path relative to the directory of airlock.yaml)"
	case slices.Contains(strings.Split(p, "/"), ".."):
		return p, `leaves the release directory (".." is not allowed)`
	}
	return path.Clean(p), ""
}

func isASCIILetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// variables decodes the variables mapping, name → value or settings.
func (d *releaseDecoder) variables(n *yaml.Node, zones map[string]bool) []Variable {
	if isYAMLNull(n) {
		return nil
	}
	var out []Variable
	entries := d.entries(n, "variables")
	for _, e := range entries {
		field := "variables." + e.key.Value
		v := d.variable(e.val, field, zones)
		v.Name = e.key.Value
		switch {
		case !variableRE.MatchString(v.Name):
			d.errorf(e.key, "variables", "invalid variable name %s (want %s)", quoteShort(v.Name), releaseVariableWant)
		case strings.HasPrefix(v.Name, "Airlock") || v.Name == "Steps":
			d.errorf(e.key, "variables", "variable name %s is reserved (names starting with Airlock, and Steps, are built in)", quoteShort(v.Name))
		}
		out = append(out, v)
	}
	return out
}

// variable decodes one variable: a scalar value, or a mapping of settings.
// Errors never show the value.
func (d *releaseDecoder) variable(n *yaml.Node, field string, zones map[string]bool) Variable {
	var v Variable
	switch {
	case isYAMLNull(n):
		d.errorf(n, field, `missing value (write "" for an empty value)`)
		return v
	case n.Kind == yaml.ScalarNode:
		v.Value, _ = d.scalar(n, field)
		return v
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a value or a mapping of settings, got %s", yamlKind(n))
		return v
	}
	f := d.fields(n, field, variableKeys)
	if x := f["value"]; x != nil {
		v.Value, _ = d.scalar(x, field+".value")
	}
	if x := f["fromEnv"]; x != nil {
		v.FromEnv = d.match(x, field+".fromEnv", "environment variable name", envNameRE, releaseEnvNameWant)
	}
	if x := f["fromFile"]; x != nil {
		v.FromFile = d.fromFile(x, field+".fromFile")
	}
	if x := f["sensitive"]; x != nil {
		v.Sensitive = d.boolean(x, field+".sensitive")
	}
	if x := f["allowLiteral"]; x != nil {
		v.AllowLiteral = d.boolean(x, field+".allowLiteral")
	}
	if x := f["byZone"]; x != nil {
		v.ByZone = d.byZone(x, field+".byZone", zones)
	}
	if x := f["description"]; x != nil {
		v.Description, _ = d.scalar(x, field+".description")
	}
	d.checkSources(n, field, v)
	return v
}

func (d *releaseDecoder) fromFile(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field)
	if ok && (s == "" || strings.ContainsFunc(s, unicode.IsControl)) {
		d.errorf(n, field, "want a file path without control characters")
	}
	return s
}

// checkSources applies the rules on where a variable's value comes from.
func (d *releaseDecoder) checkSources(n *yaml.Node, field string, v Variable) {
	var sources []string
	for _, k := range []string{"value", "fromEnv", "fromFile"} {
		if hasKey(n, k) {
			sources = append(sources, k)
		}
	}
	literal := hasKey(n, "value") || hasKey(n, "byZone")
	switch {
	case len(sources) > 1:
		d.errorf(mappingKey(n, sources[1]), field, "%s and %s are mutually exclusive (want at most one of value, fromEnv and fromFile)", sources[0], sources[1])
	case v.Sensitive && literal && !v.AllowLiteral:
		d.errorf(n, field, "sensitive variable has a literal value in airlock.yaml: read it at build time with fromEnv or fromFile, or set allowLiteral: true")
	case v.Sensitive && len(sources) == 0:
		d.errorf(n, field, "sensitive variable has no value: want fromEnv, fromFile, or value with allowLiteral: true")
	}
}

// byZone decodes zone name → literal value.
func (d *releaseDecoder) byZone(n *yaml.Node, field string, zones map[string]bool) map[string]string {
	entries := d.entries(n, field)
	if len(entries) == 0 {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		zone := e.key.Value
		switch {
		case !nameRE.MatchString(zone):
			d.errorf(e.key, field, "invalid zone name %s (want %s)", quoteShort(zone), releaseNameWant)
		case len(zones) > 0 && !zones[zone]:
			d.errorf(e.key, field, "zone %s is not among the targets of this release", quoteShort(zone))
		}
		out[zone], _ = d.scalar(e.val, field+"."+zone)
	}
	return out
}

// steps decodes the list of steps; deploy steps must name one of packages.
func (d *releaseDecoder) steps(n *yaml.Node, packages []Package) []Step {
	items := d.list(n, "steps")
	if len(items) == 0 && (n.Kind == yaml.SequenceNode || isYAMLNull(n)) {
		d.errorf(n, "steps", "at least one step is required")
	}
	var out []Step
	seen := map[string]int{}
	for i, item := range items {
		field := indexField("steps", i)
		s, f := d.step(item, field, packages)
		if v := f["name"]; v != nil && s.Name != "" {
			if line := seen[s.Name]; line > 0 {
				d.errorf(v, field+".name", "duplicate step name %s (first at line %d)", quoteShort(s.Name), line)
			}
			seen[s.Name] = v.Line
		}
		out = append(out, s)
	}
	return out
}

// step decodes one step and returns it with its fields.
func (d *releaseDecoder) step(n *yaml.Node, field string, packages []Package) (Step, map[string]*yaml.Node) {
	s := Step{When: stepDefaultWhen, Timeout: stepDefaultTimeout, RetryDelay: stepDefaultRetryDelay}
	f := d.fields(n, field, stepKeys, "name")
	if f == nil {
		return s, nil
	}
	if v := f["name"]; v != nil {
		s.Name = d.match(v, field+".name", "step name", stepNameRE, releaseStepNameWant)
	}
	if v := f["run"]; v != nil {
		s.Run = d.command(v, field+".run")
	}
	if v := f["script"]; v != nil {
		s.Script = d.relPath(v, field+".script")
	}
	if v := f["deploy"]; v != nil {
		s.Deploy = d.deploy(v, field+".deploy", packages)
		s.Keep = stepDefaultKeep
	}
	d.stepOptions(f, field, &s)
	d.checkStepKeys(n, field)
	return s, f
}

// stepOptions decodes the keys of a step other than its name and action.
func (d *releaseDecoder) stepOptions(f map[string]*yaml.Node, field string, s *Step) {
	if v := f["to"]; v != nil {
		s.To = d.target(v, field+".to")
	}
	if v := f["substitute"]; v != nil {
		s.Substitute = d.globs(v, field+".substitute")
	}
	if v := f["keep"]; v != nil {
		s.Keep = d.integer(v, field+".keep", 1, 100)
	}
	if v := f["shell"]; v != nil {
		s.Shell = d.oneOf(v, field+".shell", stepShells)
	}
	if v := f["when"]; v != nil {
		s.When = d.oneOf(v, field+".when", stepWhens)
	}
	if v := f["timeout"]; v != nil {
		s.Timeout = d.duration(v, field+".timeout", time.Second, 24*time.Hour)
	}
	if v := f["retries"]; v != nil {
		s.Retries = d.integer(v, field+".retries", 0, 10)
	}
	if v := f["retryDelay"]; v != nil {
		s.RetryDelay = d.duration(v, field+".retryDelay", 0, time.Hour)
	}
	if v := f["continueOnError"]; v != nil {
		s.ContinueOnError = d.boolean(v, field+".continueOnError")
	}
}

// checkStepKeys applies the rules on which keys a step may combine.
func (d *releaseDecoder) checkStepKeys(n *yaml.Node, field string) {
	var actions []string
	for _, k := range stepActions {
		if hasKey(n, k) {
			actions = append(actions, k)
		}
	}
	switch len(actions) {
	case 0:
		d.errorf(n, field, "want exactly one of run, script or deploy, got none")
	case 1:
	default:
		d.errorf(mappingKey(n, actions[1]), field, "%s and %s are mutually exclusive (want exactly one of run, script or deploy)", actions[0], actions[1])
	}
	if !hasKey(n, "deploy") {
		for _, k := range deployOnly {
			if hasKey(n, k) {
				d.errorf(mappingKey(n, k), field+"."+k, "only allowed with deploy")
			}
		}
		return
	}
	if hasKey(n, "shell") {
		d.errorf(mappingKey(n, "shell"), field+".shell", "not allowed with deploy (deploy runs no shell)")
	}
	if !hasKey(n, "to") {
		d.errorf(n, field, "deploy needs to: the directory to deploy into")
	}
}

// hasKey reports whether mapping n has key, even with a value that could
// not be used (so one problem is not reported twice).
func hasKey(n *yaml.Node, key string) bool { return mappingKey(n, key) != n }

// mappingKey returns the key node of key in mapping n, or n when there is none.
func mappingKey(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return n
}

// command decodes an inline command.
func (d *releaseDecoder) command(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field)
	switch {
	case !ok:
	case strings.TrimSpace(s) == "":
		d.errorf(n, field, "is empty (want a command)")
	case strings.ContainsRune(s, 0):
		d.errorf(n, field, "must not contain NUL characters")
	}
	return s
}

// deploy decodes the package name of a deploy step.
func (d *releaseDecoder) deploy(n *yaml.Node, field string, packages []Package) string {
	s, ok := d.scalar(n, field)
	if !ok {
		return s
	}
	names := make([]string, 0, len(packages))
	for _, p := range packages {
		if p.Name == s {
			return s
		}
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		d.errorf(n, field, "no package named %s (the release declares no packages)", quoteShort(s))
	} else {
		d.errorf(n, field, "no package named %s (want one of %s)", quoteShort(s), strings.Join(names, ", "))
	}
	return s
}

// target decodes the directory a deploy step deploys into.
func (d *releaseDecoder) target(n *yaml.Node, field string) string {
	s, ok := d.scalar(n, field)
	switch {
	case !ok:
	case strings.ContainsFunc(s, unicode.IsControl):
		d.errorf(n, field, "must not contain control characters")
	case !strings.Contains(s, "#{") && !isAbsAnyOS(s):
		d.errorf(n, field, "%s is not an absolute path (want a directory such as /opt/app, or one built from #{...})", quoteShort(s))
	}
	return s
}

// isAbsAnyOS reports whether p is absolute on Unix or Windows.
func isAbsAnyOS(p string) bool {
	return strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\\`) ||
		len(p) >= 3 && isASCIILetter(p[0]) && p[1] == ':' && (p[2] == '/' || p[2] == '\\')
}

// globs decodes substitute patterns.
func (d *releaseDecoder) globs(n *yaml.Node, field string) []string {
	var out []string
	for i, item := range d.list(n, field) {
		f := indexField(field, i)
		s, ok := d.scalar(item, f)
		if !ok {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			d.errorf(item, f, "invalid pattern %s (want path.Match syntax such as config/*.json)", quoteShort(s))
		} else if _, problem := cleanRelPath(s); problem != "" {
			d.errorf(item, f, "invalid pattern %s (want a relative, slash-separated pattern inside the package, without ..)", quoteShort(s))
		}
		out = append(out, s)
	}
	return out
}

// fields checks that n is a mapping of known keys, each once, with every
// key of required, and returns key → value node. It returns nil when n is
// not a mapping.
func (d *releaseDecoder) fields(n *yaml.Node, field string, known []string, required ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping, got %s", yamlKind(n))
		return nil
	}
	f := map[string]*yaml.Node{}
	for _, e := range d.entries(n, field) {
		if !slices.Contains(known, e.key.Value) {
			d.unknownKey(e.key, field, known)
			continue
		}
		f[e.key.Value] = e.val
	}
	for _, k := range required {
		if !hasKey(n, k) {
			d.errorf(n, field, "missing required key %q", k)
		}
	}
	return f
}

// unknownKey reports a key that is not one of known. In a variable's
// settings the key is shown only when it is close to a known key: a value
// written where a key belongs must not end up in an error.
func (d *releaseDecoder) unknownKey(key *yaml.Node, field string, known []string) {
	s := suggestName(key.Value, known)
	switch {
	case s != "":
		d.errorf(key, field, "unknown key %s (did you mean %q?)", quoteShort(key.Value), s)
	case strings.HasPrefix(field, "variables."):
		d.errorf(key, field, "unknown key (want one of %s)", strings.Join(known, ", "))
	default:
		d.errorf(key, field, "unknown key %s (want one of %s)", quoteShort(key.Value), strings.Join(known, ", "))
	}
}

// yamlEntry is a key and its value in a mapping.
type yamlEntry struct{ key, val *yaml.Node }

// entries returns the pairs of mapping n in file order, reporting and
// leaving out duplicate keys, keys that are not scalars, and aliases.
func (d *releaseDecoder) entries(n *yaml.Node, field string) []yamlEntry {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, field, "want a mapping, got %s", yamlKind(n))
		return nil
	}
	seen := map[string]int{}
	out := make([]yamlEntry, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, field, "want a plain key, got %s", yamlKind(k))
		case seen[k.Value] > 0:
			d.errorf(k, field, "duplicate key %s (first at line %d)", quoteShort(k.Value), seen[k.Value])
		default:
			seen[k.Value] = k.Line
			if d.usable(v, joinField(field, k.Value), k.LineComment) {
				out = append(out, yamlEntry{k, v})
			}
		}
	}
	return out
}

// list returns the items of sequence n (none when n is empty), reporting and
// leaving out aliases.
func (d *releaseDecoder) list(n *yaml.Node, field string) []*yaml.Node {
	if isYAMLNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, field, "want a list, got %s", yamlKind(n))
		return nil
	}
	out := make([]*yaml.Node, 0, len(n.Content))
	for i, item := range n.Content {
		if d.usable(item, indexField(field, i), "") {
			out = append(out, item)
		}
	}
	return out
}

// usable reports whether n can be decoded: aliases are not supported, and a
// comment starting with #{ means a reference was cut off by YAML.
func (d *releaseDecoder) usable(n *yaml.Node, field, keyComment string) bool {
	if n.Kind == yaml.AliasNode {
		d.errorf(n, field, "aliases (*%s) are not supported: write the value out", n.Value)
		return false
	}
	if strings.HasPrefix(n.LineComment, "#{") || strings.HasPrefix(keyComment, "#{") {
		d.errorf(n, field, `a " #" starts a YAML comment, so the #{...} reference after it was dropped: quote the whole value`)
		return false
	}
	return true
}

// scalar returns the text of a scalar as written (so 1.10 stays "1.10").
// Its errors name only the kind of what was found, never the value.
func (d *releaseDecoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || !slices.Contains(yamlStringTags, n.ShortTag()) {
		d.errorf(n, field, "want a string, got %s", yamlKind(n))
		return "", false
	}
	d.pos[field] = d.posOf(n)
	return n.Value, true
}

// match decodes a string that must match re; what names it in errors and
// want says what re allows.
func (d *releaseDecoder) match(n *yaml.Node, field, what string, re *regexp.Regexp, want string) string {
	s, ok := d.scalar(n, field)
	if ok && !re.MatchString(s) {
		d.errorf(n, field, "invalid %s %s (want %s)", what, quoteShort(s), want)
	}
	return s
}

// oneOf decodes a string that must be one of values.
func (d *releaseDecoder) oneOf(n *yaml.Node, field string, values []string) string {
	s, ok := d.scalar(n, field)
	if ok && !slices.Contains(values, s) {
		d.errorf(n, field, "invalid value %s (want one of %s)", quoteShort(s), strings.Join(values, ", "))
	}
	return s
}

func (d *releaseDecoder) boolean(n *yaml.Node, field string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.errorf(n, field, "want true or false, got %s", describeScalar(n))
	}
	return b
}

func (d *releaseDecoder) integer(n *yaml.Node, field string, lo, hi int) int {
	var v int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < int64(lo) || v > int64(hi) {
		d.errorf(n, field, "want an integer from %d to %d, got %s", lo, hi, describeScalar(n))
		return 0
	}
	return int(v)
}

// duration decodes a Go duration written as a string, within [lo, hi].
func (d *releaseDecoder) duration(n *yaml.Node, field string, lo, hi time.Duration) time.Duration {
	if n.Kind != yaml.ScalarNode || isYAMLNull(n) {
		d.errorf(n, field, "%s, got %s", releaseDurationHint, yamlKind(n))
		return 0
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.errorf(n, field, "invalid duration %s: a number alone has no unit (%s)", n.Value, releaseDurationHint)
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	switch {
	case err != nil:
		d.errorf(n, field, "invalid duration %s (%s)", quoteShort(n.Value), releaseDurationHint)
	case v < lo || v > hi:
		d.errorf(n, field, "duration %s is out of range (want %s to %s)", n.Value, shortDuration(lo), shortDuration(hi))
	}
	return v
}

// shortDuration formats d without zero minutes and seconds ("24h", not "24h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// posOf returns where n starts and, for plain and quoted one-line
// values, the column from which the value appears verbatim.
func (d *releaseDecoder) posOf(n *yaml.Node) yamlPos {
	p := yamlPos{line: n.Line, col: n.Column}
	skip := 0
	switch n.Style {
	case 0:
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		skip = 1
	default:
		return p
	}
	line := d.line(n.Line)
	off := runeOffset(line, n.Column-1+skip)
	if off >= 0 && !strings.Contains(n.Value, "\n") && bytes.HasPrefix(line[off:], []byte(n.Value)) {
		p.text = n.Column + skip
	}
	return p
}

// line returns the bytes of 1-based line n of the source.
func (d *releaseDecoder) line(n int) []byte {
	if d.lineStarts == nil {
		d.lineStarts = []int{0}
		for i, b := range d.src {
			if b == '\n' {
				d.lineStarts = append(d.lineStarts, i+1)
			}
		}
	}
	if n < 1 || n > len(d.lineStarts) {
		return nil
	}
	end := len(d.src)
	if n < len(d.lineStarts) {
		end = d.lineStarts[n]
	}
	return d.src[d.lineStarts[n-1]:end]
}

// runeOffset returns the byte offset of the n-th character of b, or -1.
func runeOffset(b []byte, n int) int {
	off := 0
	for ; n > 0; n-- {
		if off >= len(b) {
			return -1
		}
		_, size := utf8.DecodeRune(b[off:])
		off += size
	}
	return off
}

// yamlKind describes what n is, for "want X, got Y" messages.
func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "an empty value"
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!timestamp":
		return "a timestamp"
	default:
		return "a value tagged " + tag
	}
}

// describeScalar shows a scalar that is not a variable's value, or n's kind.
func describeScalar(n *yaml.Node) string {
	switch {
	case n.Kind != yaml.ScalarNode || isYAMLNull(n):
		return yamlKind(n)
	case n.ShortTag() == "!!int" || n.ShortTag() == "!!float":
		return n.Value
	}
	return quoteShort(n.Value)
}

func isYAMLNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// quoteShort returns s as a Go string literal, shortened to 64 bytes.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

func joinField(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func indexField(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// suggestName returns the option closest to word when it is close enough to be
// a likely typo, or "".
func suggestName(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if len(word) > len(o)+2 || len(o) > len(word)+2 {
			continue // at least 3 edits apart
		}
		dist := editDistance(strings.ToLower(word), strings.ToLower(o))
		if dist < bestDist && dist < max(len(o)/2, 1)+1 {
			best, bestDist = o, dist
		}
	}
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of adjacent bytes that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	rows := make([][]int, len(a)+1)
	for i := range rows {
		rows[i] = make([]int, len(b)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, rows[i-2][j-2]+1)
			}
			rows[i][j] = d
		}
	}
	return rows[len(a)][len(b)]
}

// Check validates r against the file system under r.Dir: packages and
// scripts exist inside Dir (symbolic links may not lead outside it);
// packages hold only regular files and directories (no symbolic links);
// every #{...} reference in run, to and the files that substitute globs
// match names a variable, a built-in, or Steps.<earlier step>.<output>;
// and every substitute glob matches at least one file.
func (r *Release) Check() error {
	c := &releaseChecker{releaseProblems: releaseProblems{file: r.File}, r: r}
	root, err := filepath.Abs(cmp.Or(r.Dir, "."))
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		c.add(r.File, 0, 0, "", "release directory: %v", err)
		return c.err()
	}
	c.root = root
	c.names = r.referable()
	pkgs := make(map[string]*packageFiles, len(r.Packages))
	for i, p := range r.Packages {
		pkgs[p.Name] = c.pkg(indexField("packages", i)+".path", p)
	}
	for i, s := range r.Steps {
		field := indexField("steps", i)
		if s.Script != "" {
			c.script(field+".script", s.Script)
		}
		c.textRefs(i, field+".run", s.Run)
		c.textRefs(i, field+".to", s.To)
		if s.Deploy != "" {
			c.substitute(i, field, s, pkgs[s.Deploy])
		}
	}
	return c.err()
}

// referable returns the names references may use: variables, built-ins
// and step names mapped to their index (as "Steps.<name>").
func (r *Release) referable() map[string]int {
	names := make(map[string]int, len(r.Variables)+len(builtinNames)+len(r.Steps))
	for _, v := range r.Variables {
		names[v.Name] = -1
	}
	for _, b := range builtinNames {
		names[b] = -1
	}
	for i, s := range r.Steps {
		if _, dup := names["Steps."+s.Name]; !dup {
			names["Steps."+s.Name] = i
		}
	}
	return names
}

// releaseChecker holds the state of one Check.
type releaseChecker struct {
	releaseProblems
	r     *Release
	root  string         // r.Dir with symbolic links resolved
	names map[string]int // see referable
}

// packageFiles are the regular files of a package.
type packageFiles struct {
	files []packageFile
}

// packageFile is one regular file of a package.
type packageFile struct {
	rel   string // slash path relative to the package root
	real  string // path to read it from
	shown string // path to name it by in errors
}

// at records a problem at the field's position in airlock.yaml.
func (c *releaseChecker) at(field, format string, args ...any) {
	p := c.r.pos[field]
	c.add(c.r.File, p.line, p.col, field, format, args...)
}

// resolve returns the real path of rel (relative to the release directory)
// after checking that it exists and stays inside the directory.
func (c *releaseChecker) resolve(field, rel string) (string, bool) {
	if _, problem := cleanRelPath(rel); problem != "" {
		c.at(field, "%s %s", quoteShort(rel), problem)
		return "", false
	}
	real, err := filepath.EvalSymlinks(filepath.Join(c.root, filepath.FromSlash(rel)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.at(field, "%s does not exist", quoteShort(rel))
	case err != nil:
		c.at(field, "%s: %v", quoteShort(rel), err)
	case !isWithin(c.root, real):
		c.at(field, "%s leads outside the release directory through a symbolic link", quoteShort(rel))
	default:
		return real, true
	}
	return "", false
}

// isWithin reports whether path p is dir or inside it.
func isWithin(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// shown returns rel (slash-separated, relative to the release directory)
// as a path relative to where airlock.yaml was named.
func (c *releaseChecker) shown(rel string) string {
	base := c.r.Dir
	if c.r.File != "" {
		base = filepath.Dir(c.r.File)
	}
	return filepath.Join(base, filepath.FromSlash(rel))
}

// pkg checks a package and lists its regular files.
func (c *releaseChecker) pkg(field string, p Package) *packageFiles {
	real, ok := c.resolve(field, p.Path)
	if !ok {
		return nil
	}
	info, err := os.Lstat(real)
	switch {
	case err != nil:
		c.at(field, "%s: %v", quoteShort(p.Path), err)
	case info.Mode().IsRegular():
		return &packageFiles{files: []packageFile{{rel: path.Base(p.Path), real: real, shown: c.shown(p.Path)}}}
	case info.IsDir():
		return c.walk(field, p, real)
	default:
		c.at(field, "%s is %s: a package is a regular file or a directory", quoteShort(p.Path), specialFileKind(info.Mode()))
	}
	return nil
}

// walk lists the regular files of a package directory, reporting anything
// that is neither a regular file nor a directory.
func (c *releaseChecker) walk(field string, p Package, real string) *packageFiles {
	pf := &packageFiles{}
	walkErr := filepath.WalkDir(real, func(name string, e fs.DirEntry, err error) error {
		rel, relErr := filepath.Rel(real, name)
		if relErr != nil {
			return relErr
		}
		rel = filepath.ToSlash(rel)
		inPkg := path.Join(p.Path, rel)
		switch {
		case err != nil:
			c.at(field, "%s: %v", quoteShort(inPkg), err)
		case e.Type().IsRegular():
			pf.files = append(pf.files, packageFile{rel: rel, real: name, shown: c.shown(inPkg)})
		case !e.IsDir():
			c.at(field, "%s is %s: packages hold only regular files and directories", quoteShort(inPkg), specialFileKind(e.Type()))
		}
		return nil
	})
	if walkErr != nil {
		c.at(field, "%s: %v", quoteShort(p.Path), walkErr)
	}
	return pf
}

// specialFileKind names a file type that packages may not hold.
func specialFileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "a special file"
	}
}

// script checks that a step's script is a regular file inside the directory.
func (c *releaseChecker) script(field, rel string) {
	real, ok := c.resolve(field, rel)
	if !ok {
		return
	}
	info, err := os.Stat(real)
	switch {
	case err != nil:
		c.at(field, "%s: %v", quoteShort(rel), err)
	case !info.Mode().IsRegular():
		c.at(field, "%s is not a regular file", quoteShort(rel))
	}
}

// textRefs checks the references in a run or to value of step i.
func (c *releaseChecker) textRefs(step int, field, text string) {
	if !strings.Contains(text, "#{") {
		return
	}
	p := c.r.pos[field]
	c.refs(step, []byte(text), func(line, col int, msg string) {
		if p.text > 0 && line == 1 {
			c.add(c.r.File, p.line, p.text+col-1, field, "%s", msg)
			return
		}
		c.add(c.r.File, p.line, p.col, field, "%s (at %d:%d of the value)", msg, line, col)
	})
}

// refs calls report for the syntax error or for each reference in text
// that step may not use, with its line and column in text.
func (c *releaseChecker) refs(step int, text []byte, report func(line, col int, msg string)) {
	refs, err := subst.Refs(text)
	var se *subst.SyntaxError
	if errors.As(err, &se) {
		report(se.Line, se.Col, se.Msg)
		return
	}
	for _, ref := range refs {
		if problem := c.refProblem(ref.Name, step); problem != "" {
			report(ref.Line, ref.Col, problem)
		}
	}
}

// substitute checks the substitute globs of deploy step i and the
// references in the files they match.
func (c *releaseChecker) substitute(step int, field string, s Step, pf *packageFiles) {
	if pf == nil {
		return // the package's own problem has been reported
	}
	checked := map[string]bool{}
	for j, glob := range s.Substitute {
		gfield := indexField(field+".substitute", j)
		matched := false
		for _, f := range pf.files {
			if ok, _ := path.Match(glob, f.rel); !ok {
				continue
			}
			matched = true
			if !checked[f.rel] {
				checked[f.rel] = true
				c.fileRefs(step, gfield, f)
			}
		}
		if !matched {
			c.at(gfield, "pattern %s matches no file of package %s", quoteShort(glob), quoteShort(s.Deploy))
		}
	}
}

// fileRefs checks the references in one file that step will substitute.
func (c *releaseChecker) fileRefs(step int, field string, f packageFile) {
	src, err := readFileAtMost(f.real, maxSubstituteSize)
	switch {
	case err != nil:
		c.add(f.shown, 0, 0, field, "%v", err)
		return
	case len(src) > maxSubstituteSize:
		c.add(f.shown, 0, 0, field, "file is larger than the %d MiB substitution limit", maxSubstituteSize>>20)
		return
	}
	c.refs(step, src, func(line, col int, msg string) {
		c.add(f.shown, line, col, field, "%s", msg)
	})
}

// refProblem returns why step may not use the reference #{name}, or "".
func (c *releaseChecker) refProblem(name string, step int) string {
	if i, ok := c.names[name]; ok && i < 0 {
		return ""
	}
	rest, isStep := strings.CutPrefix(name, "Steps.")
	if !isStep {
		return c.unresolved(name)
	}
	stepName, _, hasOutput := strings.Cut(rest, ".")
	i, ok := c.names["Steps."+stepName]
	switch {
	case !ok:
		return fmt.Sprintf("reference #{%s} names no step %q", name, stepName)
	case !hasOutput:
		return fmt.Sprintf("reference #{%s} names no output (want #{Steps.<step>.<output>})", name)
	case i == step:
		return fmt.Sprintf("reference #{%s} names this step's own output (only earlier steps' outputs can be used)", name)
	case i > step:
		return fmt.Sprintf("reference #{%s} names step %q, which runs later (only earlier steps' outputs can be used)", name, stepName)
	}
	return ""
}

// unresolved explains an unknown name, suggesting a close one.
func (c *releaseChecker) unresolved(name string) string {
	known := make([]string, 0, len(c.names))
	for n, i := range c.names {
		if i < 0 {
			known = append(known, n)
		}
	}
	sort.Strings(known)
	if s := suggestName(name, known); s != "" {
		return fmt.Sprintf("unresolved reference #{%s} (did you mean #{%s}?)", name, s)
	}
	return fmt.Sprintf("unresolved reference #{%s}: not a declared variable, a built-in or an earlier step's output", name)
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
