package bundle

import (
	"bytes"
	"errors"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Decoding airlock.yaml from a yaml.Node tree, so every problem has a position.

// releaseDecoder turns the YAML node tree of airlock.yaml into a Release.
type releaseDecoder struct {
	releaseProblems
	src        []byte
	lineStarts []int // offsets of the lines of src, built when first needed
	pos        map[string]yamlPos
	imageList  []Image // the release's, for the names push steps give
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
	r := &Release{Channel: DefaultChannel, Expires: DefaultExpires}
	f := d.fields(n, "", releaseKeys, "apiVersion", "name", "version", "targets", "steps")
	if f == nil {
		return r
	}
	if v := f["apiVersion"]; v != nil {
		r.APIVersion = d.apiVersion(v)
	}
	if v := f["name"]; v != nil {
		r.Name = d.match(v, "name", "name", nameRule)
	}
	if v := f["version"]; v != nil {
		r.Version = d.match(v, "version", "version", versionRule)
	}
	if v := f["channel"]; v != nil {
		r.Channel = d.match(v, "channel", "channel", nameRule)
	}
	if v := f["targets"]; v != nil {
		r.Targets = d.targets(v)
	}
	if v := f["expires"]; v != nil {
		r.Expires = d.duration(v, "expires", expiresRange)
	}
	if v := f["change"]; v != nil {
		r.Change = d.change(v)
	}
	if v := f["packages"]; v != nil {
		r.Packages = d.packages(v)
	}
	if v := f["images"]; v != nil {
		r.Images = d.images(v, r.Packages)
		d.imageList = r.Images
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

// targets decodes the list of zone:, host: and role: targets.
func (d *releaseDecoder) targets(n *yaml.Node) []string {
	items := d.list(n, "targets")
	var out []string
	seen := map[string]int{}
	zones, bad := 0, false
	for i, item := range items {
		field := indexField("targets", i)
		s, ok := d.scalar(item, field)
		kind, _, err := ParseTarget(s)
		switch {
		case !ok:
			bad = true
		case err != nil:
			d.errorf(item, field, "invalid target %s (%v)", quoteShort(s), err)
			bad = true
		case seen[s] > 0:
			d.errorf(item, field, "duplicate target %s (first at line %d)", quoteShort(s), seen[s])
		default:
			seen[s] = item.Line
			out = append(out, s)
			if kind == TargetZone {
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
	if v := f["securityImpact"]; v != nil {
		c.SecurityImpact = d.note(v, "change.securityImpact")
	}
	if v := f["backout"]; v != nil {
		c.Backout = d.note(v, "change.backout")
	}
	if v := f["testEvidence"]; v != nil {
		seen := map[string]int{}
		for i, item := range d.list(v, "change.testEvidence") {
			field := indexField("change.testEvidence", i)
			s, ok := d.scalar(item, field)
			switch {
			case !ok:
			case seen[s] > 0:
				d.errorf(item, field, "duplicate test evidence %s (first at line %d)", quoteShort(s), seen[s])
			default:
				seen[s] = item.Line
				c.TestEvidence = append(c.TestEvidence, Evidence{Path: s})
			}
		}
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
		f := d.fields(item, field, packageKeys, "name")
		var p Package
		if v := f["name"]; v != nil {
			p.Name = d.match(v, field+".name", "package name", nameRule)
			if line := seen[p.Name]; line > 0 {
				d.errorf(v, field+".name", "duplicate package name %s (first at line %d)", quoteShort(p.Name), line)
			}
			seen[p.Name] = v.Line
		}
		p.Kind, p.Source = d.inputSource(item, f, field, "packages")
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
		case !variableRule.valid(v.Name):
			d.errorf(e.key, "variables", "invalid variable name %s (want %s)", quoteShort(v.Name), variableRule.want)
		case strings.HasPrefix(v.Name, "Airlock") || v.Name == "Steps" || strings.HasPrefix(v.Name, "Steps."):
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
		v.FromEnv = d.match(x, field+".fromEnv", "environment variable name", envNameRule)
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
		v.ByZone = d.scoped(x, field+".byZone", "zone", zones)
	}
	if x := f["byRole"]; x != nil {
		v.ByRole = d.scoped(x, field+".byRole", "role", nil)
	}
	if x := f["byHost"]; x != nil {
		v.ByHost = d.scoped(x, field+".byHost", "host", nil)
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
	literal := hasKey(n, "value") || hasKey(n, "byZone") || hasKey(n, "byRole") || hasKey(n, "byHost")
	switch {
	case len(sources) > 1:
		d.errorf(mappingKey(n, sources[1]), field, "%s and %s are mutually exclusive (want at most one of value, fromEnv and fromFile)", sources[0], sources[1])
	case v.Sensitive && literal && !v.AllowLiteral:
		d.errorf(n, field, "sensitive variable has a literal value in airlock.yaml: read it at build time with fromEnv or fromFile, or set allowLiteral: true")
	case v.Sensitive && len(sources) == 0:
		d.errorf(n, field, "sensitive variable has no value: want fromEnv, fromFile, or value with allowLiteral: true")
	}
}

// scoped decodes a variable's scoped values (byZone, byRole, byHost): a
// zone, role or host name (what) → literal value. Zones must be among
// known, when it is not empty.
func (d *releaseDecoder) scoped(n *yaml.Node, field, what string, known map[string]bool) map[string]string {
	entries := d.entries(n, field)
	if len(entries) == 0 {
		return nil
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		name := e.key.Value
		switch {
		case !nameRule.valid(name):
			d.errorf(e.key, field, "invalid %s name %s (want %s)", what, quoteShort(name), nameRule.want)
		case len(known) > 0 && !known[name]:
			d.errorf(e.key, field, "%s %s is not among the targets of this release", what, quoteShort(name))
		}
		out[name], _ = d.scalar(e.val, field+"."+name)
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
	s := Step{When: WhenSuccess, Timeout: Duration(DefaultTimeout), RetryDelay: Duration(DefaultRetryDelay)}
	f := d.fields(n, field, stepKeys, "name")
	if f == nil {
		return s, nil
	}
	if v := f["name"]; v != nil {
		s.Name = d.match(v, field+".name", "step name", stepNameRule)
	}
	row := d.decodeStepKind(n, f, field, &s, packages)
	d.decodeStepSettings(f, field, &s, row)
	return s, f
}

// whenNames lists the When values as strings.
func whenNames() []string {
	out := make([]string, len(Whens))
	for i, w := range Whens {
		out[i] = string(w)
	}
	return out
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

// globs decodes a list of globs of package files.
func (d *releaseDecoder) globs(n *yaml.Node, field string) []string {
	var out []string
	for i, item := range d.list(n, field) {
		if s, ok := d.glob(item, indexField(field, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// glob decodes one glob of package files.
func (d *releaseDecoder) glob(n *yaml.Node, field string) (string, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return s, false
	}
	if problem := globProblem(s); problem != "" {
		d.errorf(n, field, "pattern %s %s", quoteShort(s), problem)
	}
	return s, true
}

// settingErrorAt records err, a broken rule of a setting of mapping n, at
// the setting's key when it names one.
func (d *releaseDecoder) settingErrorAt(n *yaml.Node, field string, err error) {
	var se *settingError
	if errors.As(err, &se) && se.key != "" {
		d.errorf(mappingKey(n, se.key), joinField(field, se.key), "%s", se.msg)
		return
	}
	d.errorf(n, field, "%v", err)
}

// fileRules decodes a deploy step's files: rules.
func (d *releaseDecoder) fileRules(n *yaml.Node, field string) []FileRule {
	var out []FileRule
	for i, item := range d.list(n, field) {
		f := indexField(field, i)
		before := len(d.errs)
		m := d.fields(item, f, fileRuleKeys, "match")
		if m == nil {
			continue
		}
		var r FileRule
		if v := m["match"]; v != nil {
			r.Match, _ = d.glob(v, f+".match")
		}
		if v := m["mode"]; v != nil {
			r.Mode = d.mode(v, f+".mode")
		}
		if v := m["owner"]; v != nil {
			r.Owner = d.match(v, f+".owner", "owner", accountRule)
		}
		if v := m["group"]; v != nil {
			r.Group = d.match(v, f+".group", "group", accountRule)
		}
		if len(d.errs) == before {
			if err := validateFileRule(r); err != nil {
				d.settingErrorAt(item, f, err)
			}
		}
		out = append(out, r)
	}
	return out
}

// modeRE matches a mode as chmod takes it: three or four octal digits.
var modeRE = regexp.MustCompile(`^[0-7]{3,4}$`)

// mode decodes a file mode written as octal digits, quoted or not ("0640",
// 0640 and 640 are the same).
func (d *releaseDecoder) mode(n *yaml.Node, field string) Mode {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") || !modeRE.MatchString(n.Value) {
		d.errorf(n, field, `want a mode of octal digits such as "0640", got %s`, describeScalar(n))
		return 0
	}
	v, _ := strconv.ParseUint(n.Value, 8, 32)
	if v == 0 {
		d.errorf(n, field, "mode 0000 gives no one access to the files")
	}
	return Mode(v)
}

// healthCheck decodes the settings of a health-check step.
func (d *releaseDecoder) healthCheck(n *yaml.Node, field string) *HealthCheck {
	c := &HealthCheck{Timeout: Duration(DefaultHealthTimeout), Interval: Duration(DefaultHealthInterval)}
	f := d.fields(n, field, healthCheckKeys)
	if f == nil {
		return c
	}
	before := len(d.errs)
	text := func(key string, dst *string) {
		if v := f[key]; v != nil {
			*dst, _ = d.scalar(v, field+"."+key)
		}
	}
	text("http", &c.HTTP)
	text("tcp", &c.TCP)
	text("contains", &c.Contains)
	text("caFile", &c.CAFile)
	if v := f["status"]; v != nil {
		c.Status = d.integer(v, field+".status", statusRange)
	}
	if v := f["timeout"]; v != nil {
		c.Timeout = Duration(d.duration(v, field+".timeout", healthTimeoutRange))
	}
	if v := f["interval"]; v != nil {
		c.Interval = Duration(d.duration(v, field+".interval", healthIntervalRange))
	}
	if len(d.errs) == before {
		if err := c.validate(false); err != nil {
			d.settingErrorAt(n, field, err)
		}
	}
	return c
}
