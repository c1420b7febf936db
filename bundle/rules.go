package bundle

import (
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

// Ranges and defaults of a health-check step.
var (
	healthTimeoutRange  = durationRange{time.Second, 24 * time.Hour}
	healthIntervalRange = durationRange{100 * time.Millisecond, time.Hour}
	statusRange         = intRange{100, 599}
)

const (
	// DefaultHealthTimeout is how long a health check polls when it says nothing.
	DefaultHealthTimeout = 60 * time.Second
	// DefaultHealthInterval is the time between the starts of two attempts.
	DefaultHealthInterval = 2 * time.Second
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

// healthText is a setting of a health check that may hold #{...}
// references.
type healthText struct {
	key  string
	text *string
}

// templated returns the settings of c that may hold #{...} references.
func (c *HealthCheck) templated() []healthText {
	return []healthText{{"http", &c.HTTP}, {"tcp", &c.TCP}, {"contains", &c.Contains}, {"caFile", &c.CAFile}}
}

// Resolve returns c with the references of its settings resolved by
// expand, and checked again: every setting must then be usable as it is.
func (c *HealthCheck) Resolve(expand func(string) (string, error)) (*HealthCheck, error) {
	r := *c
	for _, t := range r.templated() {
		v, err := expand(*t.text)
		if err != nil {
			return nil, err
		}
		*t.text = v
	}
	if err := r.validate(true); err != nil {
		return nil, err
	}
	return &r, nil
}

// validate checks c; unless resolved, a setting holding a reference is
// checked only for what the reference cannot change.
func (c *HealthCheck) validate(resolved bool) error {
	literal := func(s string) bool { return resolved || !hasRefs(s) }
	for _, t := range c.templated() {
		if strings.ContainsFunc(*t.text, unicode.IsControl) {
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
	case !healthTimeoutRange.contains(time.Duration(c.Timeout)):
		return settingErrorf("timeout", "duration %v is out of range (want %v)", time.Duration(c.Timeout), healthTimeoutRange)
	case !healthIntervalRange.contains(time.Duration(c.Interval)):
		return settingErrorf("interval", "duration %v is out of range (want %v)", time.Duration(c.Interval), healthIntervalRange)
	case c.Interval > c.Timeout:
		return settingErrorf("interval", "%v is longer than the timeout %v", time.Duration(c.Interval), time.Duration(c.Timeout))
	}
	if c.HTTP != "" && literal(c.HTTP) {
		return validateHTTPURL(c.HTTP, c.CAFile != "")
	}
	if c.TCP != "" && literal(c.TCP) {
		return validateTCPAddress(c.TCP)
	}
	return nil
}

// validateHTTPURL returns why u is not a URL a health check can poll.
func validateHTTPURL(u string, tls bool) error {
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

// validateTCPAddress returns why a is not HOST:PORT.
func validateTCPAddress(a string) error {
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

// validateFileRule applies the rules of one files: rule.
func validateFileRule(r FileRule) error {
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
