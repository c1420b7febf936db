package bundle

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"airlock.dev/airlock/internal/names"
)

// The rules of airlock.yaml and manifest.json, each defined once: the YAML
// decoder reports a broken rule with its position in airlock.yaml, and the
// manifest validator applies the same rule to hostile input.

// A rule is a format a name must have, and what to say when it does not.
type rule struct {
	valid func(string) bool
	want  string
}

func regexpRule(expr, want string) rule {
	return rule{valid: regexp.MustCompile(expr).MatchString, want: want}
}

var (
	nameRule     = rule{valid: names.Valid, want: names.Want}
	versionRule  = regexpRule(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$`, `letters, digits, ".", "+", "_" or "-", starting with a letter or digit, at most 64 characters`)
	variableRule = rule{valid: validVariableName, want: `a name of letters, digits and "_" not starting with a digit, such as DbPassword, at most 128 characters; ` +
		`or a key path for structured replacement, such as Logging:LogLevel:Default, spring.datasource.url or /configuration/appSettings/add[@key='Mode']/@value, at most 1024 bytes`}
	identifierRule = regexpRule(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`, "")
	stepNameRule   = regexpRule(`^[A-Za-z0-9][A-Za-z0-9 _-]{0,62}$`, `letters, digits, spaces, "_" or "-", starting with a letter or digit, at most 63 characters`)
	envNameRule    = regexpRule(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`, `an environment variable name such as PAYMENTS_DB_PASSWORD`)
)

// maxKeyPathLength caps a variable name that is a key path, in bytes.
const maxKeyPathLength = 1024

// validVariableName reports whether name may name a variable. Most names
// are identifiers: #{Name} refers to them and steps see them as environment
// variables. A variable for structured replacement is named, as in
// Octopus, by where its value goes: a key path with ":" (JSON, YAML, INI)
// or "." (.properties), or an XPath starting with "/" (XML). Such a name
// is used by structured replacement (and, with dots only, by #{...}), but
// is not in a step's environment.
func validVariableName(name string) bool {
	if identifierRule.valid(name) {
		return true
	}
	return len(name) <= maxKeyPathLength && utf8.ValidString(name) &&
		strings.TrimSpace(name) == name && !strings.ContainsFunc(name, unicode.IsControl) &&
		(strings.ContainsAny(name, ":.") || strings.HasPrefix(name, "/")) && !strings.Contains(name, "#{")
}

// InEnvironment reports whether a step sees variable name as an
// environment variable of the same name: only identifiers are, not key
// paths.
func InEnvironment(name string) bool { return identifierRule.valid(name) }

// An intRange is the inclusive range of an integer setting.
type intRange struct{ lo, hi int }

func (r intRange) contains(v int) bool { return r.lo <= v && v <= r.hi }

// A durationRange is the inclusive range of a duration setting.
type durationRange struct{ lo, hi time.Duration }

func (r durationRange) contains(v time.Duration) bool { return r.lo <= v && v <= r.hi }

func (r durationRange) String() string {
	return shortDuration(r.lo) + " to " + shortDuration(r.hi)
}

// Ranges and defaults of release and step settings.
var (
	expiresRange    = durationRange{time.Minute, 8760 * time.Hour}
	keepRange       = intRange{1, 100}
	retriesRange    = intRange{0, 10}
	timeoutRange    = durationRange{time.Second, 24 * time.Hour}
	retryDelayRange = durationRange{0, time.Hour}
)

const (
	// DefaultChannel is the channel of a release that names none.
	DefaultChannel = "default"
	// DefaultExpires is how long a bundle is valid when airlock.yaml says nothing.
	DefaultExpires = 336 * time.Hour
	// DefaultKeep is how many releases a deploy step keeps.
	DefaultKeep = 3
	// DefaultTimeout is a step's timeout per attempt.
	DefaultTimeout = 15 * time.Minute
	// DefaultRetryDelay is the base of a step's retry backoff.
	DefaultRetryDelay = 5 * time.Second

	// MaxSubstituteSize caps a file that gets #{...} substitution, when the
	// release is checked and when it is deployed.
	MaxSubstituteSize = 64 << 20
	// maxNoteLength caps change.ticket, reason, securityImpact and
	// backout, in characters.
	maxNoteLength = 200
)

// When says when a step runs.
type When string

// When values.
const (
	WhenSuccess When = "success" // while nothing has failed (the default)
	WhenFailure When = "failure" // only after a step failed
	WhenAlways  When = "always"  // in any case
)

// Whens lists every When value.
var Whens = []When{WhenSuccess, WhenFailure, WhenAlways}

// Runs reports whether a step with this When runs, given whether an
// earlier step has failed.
func (w When) Runs(failed bool) bool {
	switch w {
	case WhenAlways:
		return true
	case WhenFailure:
		return failed
	}
	return !failed
}

// Shells lists the shells a run or script step may name.
var Shells = []string{"sh", "bash", "pwsh", "powershell", "cmd"}

// StepKind is what a step does.
type StepKind string

// Step kinds.
const (
	KindRun    StepKind = "run"    // an inline command
	KindScript StepKind = "script" // a script file carried in the bundle
	KindDeploy StepKind = "deploy" // install a package and switch to it
	KindCheck  StepKind = "check"  // poll an HTTP URL or a TCP address until it is healthy
)

// stepKind is one row of the step kind table.
type stepKind struct {
	kind StepKind
	// set reports whether a step is of this kind: its key has a value.
	set func(s *Step) bool
	// keys are the settings the kind takes besides the common ones (name,
	// when, continueOnError); required are those it needs.
	keys, required []string
	// check applies the rules of the kind's own settings.
	check func(s *Step) error
}

// processKeys are the settings of a step that runs a process.
var processKeys = []string{"shell", "timeout", "retries", "retryDelay"}

// stepKinds is the one table of step kinds, used by the airlock.yaml
// decoder, the manifest validator, the builder, the applier, plan and
// inspect. Each kind's key in airlock.yaml and manifest.json is its name.
// A new kind is a row here, its fields on Step, and its runner in apply.
var stepKinds = []stepKind{
	{kind: KindRun, set: func(s *Step) bool { return s.Run != "" }, keys: processKeys},
	{kind: KindScript, set: func(s *Step) bool { return s.Script != "" }, keys: append([]string{"substitute"}, processKeys...),
		check: checkScriptStep},
	{kind: KindDeploy, set: func(s *Step) bool { return s.Deploy != "" },
		keys: []string{"to", "substitute", "structured", "files", "keep", "timeout", "retries", "retryDelay"}, required: []string{"to"},
		check: checkDeployStep},
	{kind: KindCheck, set: func(s *Step) bool { return s.Check != nil }, check: checkCheckStep},
}

// optionKeys are the kind-specific settings whose absence a manifest shows
// (timeout, retries and retryDelay are always written).
var optionKeys = []string{"to", "substitute", "structured", "files", "keep", "shell"}

// StepKinds lists every step kind, in table order.
func StepKinds() []StepKind {
	out := make([]StepKind, len(stepKinds))
	for i, k := range stepKinds {
		out[i] = k.kind
	}
	return out
}

// Kind returns what s does, or "" when it sets no kind or more than one.
func (s *Step) Kind() StepKind {
	var kind StepKind
	for _, k := range stepKinds {
		if k.set(s) {
			if kind != "" {
				return ""
			}
			kind = k.kind
		}
	}
	return kind
}

// kindNames lists kinds for messages: "run, script or deploy".
func kindNames(kinds []StepKind) string {
	s := ""
	for i, k := range kinds {
		switch {
		case i == 0:
		case i == len(kinds)-1:
			s += " or "
		default:
			s += ", "
		}
		s += string(k)
	}
	return s
}

// keyNotTaken explains why a step of kind may not set key.
func keyNotTaken(kind StepKind, key string) string {
	var takers []StepKind
	for _, k := range stepKinds {
		if slices.Contains(k.keys, key) {
			takers = append(takers, k.kind)
		}
	}
	msg := "only allowed with " + kindNames(takers)
	switch {
	case key == "shell":
		msg += fmt.Sprintf(" (%s runs no shell)", kind)
	case kind == KindCheck && slices.Contains(processKeys, key):
		msg += " (a check polls until the timeout written inside check:)"
	}
	return msg
}

// optionSet reports whether a kind-specific key has a value on s.
func optionSet(s *Step, key string) bool {
	switch key {
	case "to":
		return s.To != ""
	case "substitute":
		return !s.Substitute.IsZero()
	case "structured":
		return len(s.Structured) > 0
	case "files":
		return len(s.Files) > 0
	case "keep":
		return s.Keep != 0
	case "shell":
		return s.Shell != ""
	}
	panic("bundle: optionSet: unknown key " + key)
}

// checkStep applies the rules every step obeys, whichever file it comes
// from; the kind-specific references (packages, scripts) are checked by the
// caller, which knows what the release holds.
func checkStep(s *Step) error {
	kind := s.Kind()
	if kind == "" {
		return fmt.Errorf("want exactly one of %s", kindNames(StepKinds()))
	}
	row := stepKinds[slices.IndexFunc(stepKinds, func(k stepKind) bool { return k.kind == kind })]
	for _, key := range optionKeys {
		if optionSet(s, key) && !slices.Contains(row.keys, key) {
			return fmt.Errorf("%s: %s", key, keyNotTaken(kind, key))
		}
	}
	for _, key := range row.required {
		if !optionSet(s, key) {
			return fmt.Errorf("%s needs %s", kind, key)
		}
	}
	switch {
	case s.Shell != "" && !slices.Contains(Shells, s.Shell):
		return fmt.Errorf("unknown shell %q", s.Shell)
	case !slices.Contains(Whens, s.When):
		return fmt.Errorf("when %q, want success, failure or always", s.When)
	case !timeoutRange.contains(time.Duration(s.Timeout)):
		return fmt.Errorf("timeout %v, want %v", time.Duration(s.Timeout), timeoutRange)
	case !retriesRange.contains(s.Retries):
		return fmt.Errorf("retries %d, want %d to %d", s.Retries, retriesRange.lo, retriesRange.hi)
	case !retryDelayRange.contains(time.Duration(s.RetryDelay)):
		return fmt.Errorf("retryDelay %v, want %v", time.Duration(s.RetryDelay), retryDelayRange)
	}
	if row.check != nil {
		return row.check(s)
	}
	return nil
}

func checkScriptStep(s *Step) error {
	if len(s.Substitute.Globs) > 0 {
		return errors.New("substitute: want true for a script step (the script itself is substituted)")
	}
	return nil
}

func checkDeployStep(s *Step) error {
	switch {
	case !keepRange.contains(s.Keep):
		return fmt.Errorf("keep %d, want %d to %d", s.Keep, keepRange.lo, keepRange.hi)
	case s.Substitute.Script:
		return errors.New("substitute: want a list of globs for a deploy step")
	}
	for _, g := range s.Substitute.Globs {
		if p := globProblem(g); p != "" {
			return fmt.Errorf("substitute pattern %q %s", g, p)
		}
	}
	for _, g := range s.Structured {
		if p := globProblem(g); p != "" {
			return fmt.Errorf("structured pattern %q %s", g, p)
		}
	}
	for i, r := range s.Files {
		if err := checkFileRule(r); err != nil {
			return fmt.Errorf("files[%d]: %w", i, err)
		}
	}
	return nil
}

func checkCheckStep(s *Step) error {
	if err := s.Check.validate(false); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if s.Retries != 0 || s.Timeout != s.Check.Timeout {
		return errors.New("a check step takes its timeout from check.timeout and has no retries")
	}
	return nil
}

// Ranges and defaults of a check step.
var (
	checkTimeoutRange  = durationRange{time.Second, 24 * time.Hour}
	checkIntervalRange = durationRange{100 * time.Millisecond, time.Hour}
	statusRange        = intRange{100, 599}
)

const (
	// DefaultCheckTimeout is how long a check polls when it says nothing.
	DefaultCheckTimeout = 60 * time.Second
	// DefaultCheckInterval is the time between the starts of two attempts.
	DefaultCheckInterval = 2 * time.Second
	// maxContainsLength caps check.contains, in bytes.
	maxContainsLength = 1024
)

// hasRefs reports whether s holds a #{...} reference, which only the zone
// can resolve.
func hasRefs(s string) bool { return strings.Contains(s, "#{") }

// settingError is a broken rule of one setting (key; "" for a rule over
// several), so that the airlock.yaml decoder can point at the setting.
type settingError struct{ key, msg string }

func (e *settingError) Error() string {
	if e.key == "" {
		return e.msg
	}
	return e.key + ": " + e.msg
}

func settingErrorf(key, format string, args ...any) error {
	return &settingError{key: key, msg: fmt.Sprintf(format, args...)}
}

// ValidateResolved checks c once the zone has resolved its references:
// every setting must then be usable as it is.
func (c *HealthCheck) ValidateResolved() error { return c.validate(true) }

// validate checks c; unless resolved, a setting holding a reference is
// checked only for what the reference cannot change.
func (c *HealthCheck) validate(resolved bool) error {
	literal := func(s string) bool { return resolved || !hasRefs(s) }
	for _, t := range []struct{ key, text string }{{"http", c.HTTP}, {"tcp", c.TCP}, {"contains", c.Contains}, {"caFile", c.CAFile}} {
		if strings.ContainsFunc(t.text, unicode.IsControl) {
			return settingErrorf(t.key, "must not contain control characters")
		}
	}
	switch {
	case c.HTTP == "" && c.TCP == "":
		return settingErrorf("", "want one of http (a URL) and tcp (HOST:PORT)")
	case c.HTTP != "" && c.TCP != "":
		return settingErrorf("tcp", "http and tcp are mutually exclusive")
	case c.TCP != "" && c.Status != 0:
		return settingErrorf("status", "goes with http only")
	case c.TCP != "" && c.Contains != "":
		return settingErrorf("contains", "goes with http only")
	case c.TCP != "" && c.CAFile != "":
		return settingErrorf("caFile", "goes with http only")
	case c.Status != 0 && !statusRange.contains(c.Status):
		return settingErrorf("status", "want an HTTP status from %d to %d, got %d", statusRange.lo, statusRange.hi, c.Status)
	case len(c.Contains) > maxContainsLength:
		return settingErrorf("contains", "longer than %d bytes", maxContainsLength)
	case c.CAFile != "" && literal(c.CAFile) && !isAbsAnyOS(c.CAFile):
		return settingErrorf("caFile", "%s is not an absolute path (want a file of PEM certificates in the zone, such as /etc/pki/zone-ca.pem)", quoteShort(c.CAFile))
	case !checkTimeoutRange.contains(time.Duration(c.Timeout)):
		return settingErrorf("timeout", "duration %v is out of range (want %v)", time.Duration(c.Timeout), checkTimeoutRange)
	case !checkIntervalRange.contains(time.Duration(c.Interval)):
		return settingErrorf("interval", "duration %v is out of range (want %v)", time.Duration(c.Interval), checkIntervalRange)
	case c.Interval > c.Timeout:
		return settingErrorf("interval", "%v is longer than the timeout %v", time.Duration(c.Interval), time.Duration(c.Timeout))
	}
	if c.HTTP != "" && literal(c.HTTP) {
		return checkHTTPURL(c.HTTP, c.CAFile != "")
	}
	if c.TCP != "" && literal(c.TCP) {
		return checkTCPAddress(c.TCP)
	}
	return nil
}

// checkHTTPURL returns why u is not a URL a check can poll.
func checkHTTPURL(u string, tls bool) error {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return settingErrorf("http", "invalid URL %s", quoteShort(u))
	case p.Scheme != "http" && p.Scheme != "https":
		return settingErrorf("http", "%s is not an http:// or https:// URL", quoteShort(u))
	case p.Hostname() == "":
		return settingErrorf("http", "%s names no host", quoteShort(u))
	case p.User != nil:
		return settingErrorf("http", "%s holds credentials, which a check does not send", quoteShort(u))
	case tls && p.Scheme != "https":
		return settingErrorf("caFile", "goes with an https:// URL only")
	}
	if port := p.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return settingErrorf("http", "%s has an invalid port (want 1 to 65535)", quoteShort(u))
		}
	}
	return nil
}

// checkTCPAddress returns why a is not HOST:PORT.
func checkTCPAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return settingErrorf("tcp", "%s is not HOST:PORT", quoteShort(a))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return settingErrorf("tcp", "%s has an invalid port (want 1 to 65535)", quoteShort(a))
	}
	return nil
}

// A file rule's owner or group: a name or a numeric id.
var accountRule = regexpRule(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}|[0-9]{1,10})$`, `a user or group name such as payments, or a numeric id`)

// maxMode is the largest mode a file rule sets: permission bits only, no
// set-user-ID, set-group-ID or sticky bit.
const maxMode Mode = 0o777

// checkFileRule applies the rules of one files: rule.
func checkFileRule(r FileRule) error {
	switch {
	case globProblem(r.Match) != "":
		return settingErrorf("match", "pattern %s %s", quoteShort(r.Match), globProblem(r.Match))
	case r.Mode == 0 && r.Owner == "" && r.Group == "":
		return settingErrorf("", "want at least one of mode, owner and group")
	case r.Mode > maxMode:
		return settingErrorf("mode", "%s sets more than permission bits (want at most 0777: no set-user-ID, set-group-ID or sticky bit)", r.Mode)
	case r.Owner != "" && !accountRule.valid(r.Owner):
		return settingErrorf("owner", "invalid owner %s (want %s)", quoteShort(r.Owner), accountRule.want)
	case r.Group != "" && !accountRule.valid(r.Group):
		return settingErrorf("group", "invalid group %s (want %s)", quoteShort(r.Group), accountRule.want)
	}
	return nil
}

// Builtin is a #{...} name that airlock defines at apply time. Steps also
// see each as an environment variable (see EnvName).
type Builtin string

// Built-in names.
const (
	BuiltinReleaseName    Builtin = "Airlock.Release.Name"
	BuiltinReleaseVersion Builtin = "Airlock.Release.Version"
	BuiltinReleaseChannel Builtin = "Airlock.Release.Channel"
	BuiltinBundleID       Builtin = "Airlock.Bundle.Id"
	BuiltinBundleSequence Builtin = "Airlock.Bundle.Sequence"
	BuiltinZone           Builtin = "Airlock.Zone"
	BuiltinHost           Builtin = "Airlock.Host"
	BuiltinDeployPath     Builtin = "Airlock.Deploy.Path" // the release directory of the latest deploy step
	BuiltinStepName       Builtin = "Airlock.Step.Name"
)

// Builtins lists every built-in name.
var Builtins = []Builtin{
	BuiltinReleaseName, BuiltinReleaseVersion, BuiltinReleaseChannel,
	BuiltinBundleID, BuiltinBundleSequence, BuiltinZone, BuiltinHost,
	BuiltinDeployPath, BuiltinStepName,
}

// EnvName is the environment variable a step sees b as:
// Airlock.Release.Version is AIRLOCK_RELEASE_VERSION.
func (b Builtin) EnvName() string {
	return strings.ToUpper(strings.ReplaceAll(string(b), ".", "_"))
}

// Target kinds: a bundle names the zones that may apply it as
// "zone:NAME" and, optionally, narrows them to hosts ("host:NAME") and
// host roles ("role:NAME": the hosts whose trust.yaml lists the role
// under hostRoles).
const (
	TargetZone = "zone"
	TargetHost = "host"
	TargetRole = "role"
)

// TargetKinds lists the target kinds.
var TargetKinds = []string{TargetZone, TargetHost, TargetRole}

// ParseTarget splits a target into its kind and name.
func ParseTarget(t string) (kind, name string, err error) {
	kind, name, _ = strings.Cut(t, ":")
	if !slices.Contains(TargetKinds, kind) || !nameRule.valid(name) {
		return "", "", fmt.Errorf("want zone:NAME, host:NAME or role:NAME, NAME of %s", nameRule.want)
	}
	return kind, name, nil
}

// MatchTargets decides whether a bundle's targets admit a host: its zone
// must be one of the zone: targets; when any host: or role: target is
// listed, the host must be one of the hosts named or hold one of the roles
// named (host and role targets add up: "role:web host:db-01" is every web
// host and db-01). It returns "" when they admit the host, else why not.
func MatchTargets(targets []string, zone, host string, roles []string) string {
	if !slices.Contains(targets, TargetZone+":"+zone) {
		return fmt.Sprintf("bundle targets %s, not zone:%s", strings.Join(targets, ", "), zone)
	}
	var narrow []string
	for _, t := range targets {
		kind, name, err := ParseTarget(t)
		switch {
		case err != nil || kind == TargetZone:
			continue
		case kind == TargetHost && name == host, kind == TargetRole && slices.Contains(roles, name):
			return ""
		}
		narrow = append(narrow, t)
	}
	if len(narrow) == 0 {
		return ""
	}
	has := "no roles"
	if len(roles) > 0 {
		has = "roles " + strings.Join(roles, ", ")
	}
	return fmt.Sprintf("bundle targets %s in zone %s, not this host %q (%s)", strings.Join(narrow, ", "), zone, host, has)
}
