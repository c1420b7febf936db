package bundle

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

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
	variableRule = regexpRule(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`, `letters, digits and "_", not starting with a digit, at most 128 characters`)
	stepNameRule = regexpRule(`^[A-Za-z0-9][A-Za-z0-9 _-]{0,62}$`, `letters, digits, spaces, "_" or "-", starting with a letter or digit, at most 63 characters`)
	envNameRule  = regexpRule(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`, `an environment variable name such as PAYMENTS_DB_PASSWORD`)
)

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
)

// stepKind is one row of the step kind table.
type stepKind struct {
	kind StepKind
	// set reports whether a step is of this kind: its key has a value.
	set func(s *Step) bool
	// only are the keys that go with this kind only; required those it needs.
	only, required []string
	// shell: the kind runs a process under a shell, so "shell" may be set.
	shell bool
}

// stepKinds is the one table of step kinds, used by the airlock.yaml
// decoder, the manifest validator, the builder, the applier, plan and
// inspect. Each kind's key in airlock.yaml and manifest.json is its name.
// A new kind is a row here, its fields on Step, and its runner in apply.
var stepKinds = []stepKind{
	{kind: KindRun, set: func(s *Step) bool { return s.Run != "" }, shell: true},
	{kind: KindScript, set: func(s *Step) bool { return s.Script != "" }, shell: true},
	{kind: KindDeploy, set: func(s *Step) bool { return s.Deploy != "" },
		only: []string{"to", "substitute", "keep"}, required: []string{"to"}},
}

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

// kindNames lists the kinds' keys for messages: "run, script or deploy".
func kindNames() string {
	s := ""
	for i, k := range stepKinds {
		switch {
		case i == 0:
		case i == len(stepKinds)-1:
			s += " or "
		default:
			s += ", "
		}
		s += string(k.kind)
	}
	return s
}

// optionSet reports whether a kind-specific key has a value on s.
func optionSet(s *Step, key string) bool {
	switch key {
	case "to":
		return s.To != ""
	case "substitute":
		return len(s.Substitute) > 0
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
		return fmt.Errorf("want exactly one of %s", kindNames())
	}
	row := stepKinds[slices.IndexFunc(stepKinds, func(k stepKind) bool { return k.kind == kind })]
	for _, k := range stepKinds {
		for _, key := range k.only {
			if k.kind != kind && !slices.Contains(row.only, key) && optionSet(s, key) {
				return fmt.Errorf("%s goes with %s only", key, k.kind)
			}
		}
	}
	for _, key := range row.required {
		if !optionSet(s, key) {
			return fmt.Errorf("%s needs %s", kind, key)
		}
	}
	switch {
	case s.Shell != "" && !row.shell:
		return fmt.Errorf("shell is not allowed with %s", kind)
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
	case kind == KindDeploy && !keepRange.contains(s.Keep):
		return fmt.Errorf("keep %d, want %d to %d", s.Keep, keepRange.lo, keepRange.hi)
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

// Target kinds: a bundle names the zones (and optionally hosts) that may
// apply it as "zone:NAME" and "host:NAME".
const (
	TargetZone = "zone"
	TargetHost = "host"
)

// targetKinds lists the target kinds.
var targetKinds = []string{TargetZone, TargetHost}

// ParseTarget splits a target into its kind and name.
func ParseTarget(t string) (kind, name string, err error) {
	kind, name, _ = strings.Cut(t, ":")
	if !slices.Contains(targetKinds, kind) || !nameRule.valid(name) {
		return "", "", fmt.Errorf("want zone:NAME or host:NAME, NAME of %s", nameRule.want)
	}
	return kind, name, nil
}
