package bundle

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// StepKind is what a step does.
type StepKind string

// Step kinds. Each kind's key in airlock.yaml and manifest.json, and its
// name in plan, inspect and receipts, is its value.
const (
	KindRun    StepKind = "run"    // an inline command
	KindScript StepKind = "script" // a script file carried in the bundle
	KindDeploy StepKind = "deploy" // install a package and switch to it
	KindHealth StepKind = "check"  // the health-check step: poll an HTTP URL or a TCP address until it is healthy
)

// stepKind is one row of the step kind table.
type stepKind struct {
	kind StepKind
	// set reports whether a step is of this kind: its key has a value.
	set func(s *Step) bool
	// keys are the settings (of stepSettings) the kind takes besides the
	// common ones; required are those it needs.
	keys, required []string
	// decode reads the value of the kind's key in airlock.yaml (v, at
	// field) into s; packages are the release's.
	decode func(d *releaseDecoder, v *yaml.Node, field string, s *Step, packages []Package)
	// validate applies the rules of the kind's own settings (nil: none
	// beyond those of every step).
	validate func(s *Step) error
	// inPayload returns why what the step names in the payload (a package,
	// a script) is not there, or "".
	inPayload func(s *Step, pkgs, files map[string]bool) string
	// texts are the settings that may hold #{...} references, which the
	// zone resolves (nil: none).
	texts func(s *Step) []StepText
	// describe says what the step does (see Step.Describe).
	describe func(s *Step, expand func(string) string) []string
}

// processKeys are the settings of a step that runs a process.
var processKeys = []string{"shell", "timeout", "retries", "retryDelay"}

// stepKinds is the one table of step kinds, used by the airlock.yaml
// decoder, the manifest validator, the builder, plan and inspect; the
// applier's runners are a table keyed by the same kinds (apply/steps.go).
// A new kind is a row here (with its fields on Step and its settings in
// stepSettings), and a row of the runner table pointing at its runner.
var stepKinds = []stepKind{
	{kind: KindRun, set: func(s *Step) bool { return s.Run != "" }, keys: processKeys,
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ []Package) {
			s.Run = d.command(v, field)
		},
		texts:    func(s *Step) []StepText { return []StepText{{string(KindRun), s.Run}} },
		describe: describeRun},
	{kind: KindScript, set: func(s *Step) bool { return s.Script != "" }, keys: append([]string{"substitute"}, processKeys...),
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ []Package) {
			s.Script = d.relPath(v, field)
		},
		validate: validateScriptStep,
		inPayload: func(s *Step, _, files map[string]bool) string {
			if !files[s.Script] {
				return fmt.Sprintf("script %q is not a listed file", s.Script)
			}
			return ""
		},
		describe: describeScript},
	{kind: KindDeploy, set: func(s *Step) bool { return s.Deploy != "" },
		keys: []string{"to", "substitute", "structured", "files", "keep", "timeout", "retries", "retryDelay"}, required: []string{"to"},
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, packages []Package) {
			s.Deploy = d.deploy(v, field, packages)
			s.Keep = DefaultKeep
		},
		validate: validateDeployStep,
		inPayload: func(s *Step, pkgs, _ map[string]bool) string {
			if !pkgs[s.Deploy] {
				return fmt.Sprintf("deploy names %q, not a listed package", s.Deploy)
			}
			return ""
		},
		texts:    func(s *Step) []StepText { return []StepText{{"to", s.To}} },
		describe: describeDeploy},
	{kind: KindHealth, set: func(s *Step) bool { return s.Check != nil },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ []Package) {
			s.Check = d.healthCheck(v, field)
			s.Timeout = s.Check.Timeout
		},
		validate: validateHealthStep,
		texts: func(s *Step) []StepText {
			var out []StepText
			for _, t := range s.Check.templated() {
				out = append(out, StepText{string(KindHealth) + "." + t.key, *t.text})
			}
			return out
		},
		describe: describeHealth},
	{kind: KindPush, set: func(s *Step) bool { return !s.Push.IsZero() }, keys: []string{"retag", "timeout"},
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ []Package) {
			s.Push = d.push(v, field)
		},
		validate: validatePushStep, describe: describePush},
}

// stepSetting is one row of the table of step settings: a key of a step
// besides its name and its kind's key.
type stepSetting struct {
	key string
	// common settings are taken by every kind.
	common bool
	// set reports whether s has a value for the setting; nil when every
	// step has one (manifest.json always writes it), so that its absence
	// cannot be seen.
	set func(s *Step) bool
	// decode reads the setting's value in airlock.yaml (v, at field) into s,
	// a step of kind.
	decode func(d *releaseDecoder, v *yaml.Node, field string, s *Step, kind StepKind)
	// need says what a kind that requires the setting needs it for.
	need string
}

// stepSettings lists every setting of a step but its name and kind key,
// in the order the documentation lists them.
var stepSettings = []stepSetting{
	{key: "to", set: func(s *Step) bool { return s.To != "" }, need: "the directory to deploy into",
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) { s.To = d.target(v, field) }},
	{key: "substitute", set: func(s *Step) bool { return !s.Substitute.IsZero() },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, kind StepKind) {
			if kind == KindScript {
				s.Substitute.Script = d.boolean(v, field)
			} else {
				s.Substitute.Globs = d.globs(v, field)
			}
		}},
	{key: "structured", set: func(s *Step) bool { return len(s.Structured) > 0 },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.Structured = d.globs(v, field)
		}},
	{key: "files", set: func(s *Step) bool { return len(s.Files) > 0 },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.Files = d.fileRules(v, field)
		}},
	{key: "keep", set: func(s *Step) bool { return s.Keep != 0 },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.Keep = d.integer(v, field, keepRange)
		}},
	{key: "shell", set: func(s *Step) bool { return s.Shell != "" },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.Shell = d.oneOf(v, field, Shells)
		}},
	{key: "when", common: true,
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.When = When(d.oneOf(v, field, whenNames()))
		}},
	{key: "timeout", decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
		s.Timeout = Duration(d.duration(v, field, timeoutRange))
	}},
	{key: "retries", decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
		s.Retries = d.integer(v, field, retriesRange)
	}},
	{key: "retryDelay", decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
		s.RetryDelay = Duration(d.duration(v, field, retryDelayRange))
	}},
	{key: "retag", set: func(s *Step) bool { return s.Retag },
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.Retag = d.boolean(v, field)
		}},
	{key: "continueOnError", common: true,
		decode: func(d *releaseDecoder, v *yaml.Node, field string, s *Step, _ StepKind) {
			s.ContinueOnError = d.boolean(v, field)
		}},
}

// Keys of a step, from the two tables: stepKeys are all of them (the
// name, each kind's key, each setting), commonStepKeys those every kind
// takes.
var (
	stepKeys       = slices.Concat([]string{"name"}, kindKeys(), settingKeys(false))
	commonStepKeys = slices.Concat([]string{"name"}, settingKeys(true))
)

// kindKeys returns the key of each step kind.
func kindKeys() []string {
	out := make([]string, len(stepKinds))
	for i, k := range stepKinds {
		out[i] = string(k.kind)
	}
	return out
}

// settingKeys returns the keys of the step settings, or only of the
// common ones.
func settingKeys(onlyCommon bool) []string {
	var out []string
	for _, st := range stepSettings {
		if st.common || !onlyCommon {
			out = append(out, st.key)
		}
	}
	return out
}

// setting returns the row of setting key.
func setting(key string) *stepSetting {
	i := slices.IndexFunc(stepSettings, func(st stepSetting) bool { return st.key == key })
	if i < 0 {
		panic("bundle: no step setting " + key)
	}
	return &stepSettings[i]
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
	if row := s.kindRow(); row != nil {
		return row.kind
	}
	return ""
}

// kindRow returns the row of s's kind, or nil when it sets no kind or more
// than one.
func (s *Step) kindRow() *stepKind {
	var row *stepKind
	for i := range stepKinds {
		if stepKinds[i].set(s) {
			if row != nil {
				return nil
			}
			row = &stepKinds[i]
		}
	}
	return row
}

// StepText is a setting of a step whose text may hold #{...} references,
// which the zone resolves: Key names it as airlock.yaml does ("run", "to",
// "check.http").
type StepText struct {
	Key, Text string
}

// Texts returns the settings of s that may hold #{...} references.
func (s *Step) Texts() []StepText {
	if row := s.kindRow(); row != nil && row.texts != nil {
		return row.texts(s)
	}
	return nil
}

// Describe says what s does, in words, for plan and inspect: the first
// line sums it up, the others (if any) add detail. expand gives a setting's
// text with its #{...} references resolved (plan), or as written
// (inspect). A step of no kind this airlock knows is described as that,
// never as another kind.
func (s *Step) Describe(expand func(string) string) []string {
	row := s.kindRow()
	if row == nil {
		return []string{fmt.Sprintf("a step of no kind this airlock knows (want exactly one of %s)", kindNames(StepKinds()))}
	}
	return row.describe(s, expand)
}

// kindNames lists kinds for messages: "run, script or deploy".
func kindNames(kinds []StepKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return orList(names)
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
	case kind == KindHealth && slices.Contains(processKeys, key):
		msg += " (a check polls until the timeout written inside check:)"
	}
	return msg
}

// validateStep applies the rules every step obeys, whichever file it comes
// from; what the step names in the payload is checked by the caller,
// which knows what the release or manifest holds.
func validateStep(s *Step) error {
	row := s.kindRow()
	if row == nil {
		return fmt.Errorf("want exactly one of %s", kindNames(StepKinds()))
	}
	for _, st := range stepSettings {
		if st.set != nil && st.set(s) && !slices.Contains(row.keys, st.key) {
			return fmt.Errorf("%s: %s", st.key, keyNotTaken(row.kind, st.key))
		}
	}
	for _, key := range row.required {
		if !setting(key).set(s) {
			return fmt.Errorf("%s needs %s", row.kind, key)
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
	if row.validate != nil {
		return row.validate(s)
	}
	return nil
}

// stepInPayload returns why what s names in the payload is not there: pkgs
// are the package names, files the payload's regular files.
func stepInPayload(s *Step, pkgs, files map[string]bool) string {
	if row := s.kindRow(); row != nil && row.inPayload != nil {
		return row.inPayload(s, pkgs, files)
	}
	return ""
}

func validateScriptStep(s *Step) error {
	if len(s.Substitute.Globs) > 0 {
		return errors.New("substitute: want true for a script step (the script itself is substituted)")
	}
	return nil
}

func validateDeployStep(s *Step) error {
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
		if err := validateFileRule(r); err != nil {
			return fmt.Errorf("files[%d]: %w", i, err)
		}
	}
	return nil
}

func validateHealthStep(s *Step) error {
	if err := s.Check.validate(false); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	if s.Retries != 0 || s.Timeout != s.Check.Timeout {
		return errors.New("a check step takes its timeout from check.timeout and has no retries")
	}
	return nil
}

// describeRun is the command, one line of it a line.
func describeRun(s *Step, expand func(string) string) []string {
	return strings.Split(strings.TrimSpace(expand(s.Run)), "\n")
}

func describeScript(s *Step, _ func(string) string) []string {
	what := "run script " + s.Script
	if s.Substitute.Script {
		what += " with #{...} substituted"
	}
	return []string{what}
}

func describeDeploy(s *Step, expand func(string) string) []string {
	to := expand(s.To)
	version := expand("#{" + string(BuiltinReleaseVersion) + "}")
	out := []string{fmt.Sprintf("deploy package %s to %s/releases/%s, switch %s/current (keep %d)", s.Deploy, to, version, to, s.Keep)}
	if len(s.Substitute.Globs) > 0 {
		out = append(out, "substitute #{...} in "+strings.Join(s.Substitute.Globs, ", "))
	}
	if len(s.Structured) > 0 {
		out = append(out, "replace values by key path in "+strings.Join(s.Structured, ", "))
	}
	for _, r := range s.Files {
		out = append(out, "files "+describeFileRule(r))
	}
	return out
}

// describeFileRule is a files: rule in words: "config/** mode 0640,
// owner payments, group payments".
func describeFileRule(r FileRule) string {
	var set []string
	if r.Mode != 0 {
		set = append(set, "mode "+r.Mode.String())
	}
	if r.Owner != "" {
		set = append(set, "owner "+r.Owner)
	}
	if r.Group != "" {
		set = append(set, "group "+r.Group)
	}
	return r.Match + " " + strings.Join(set, ", ")
}

func describeHealth(s *Step, expand func(string) string) []string {
	c := s.Check
	what := "connect to " + expand(c.TCP)
	if c.HTTP != "" {
		want := "any 2xx status"
		if c.Status != 0 {
			want = fmt.Sprintf("status %d", c.Status)
		}
		if c.Contains != "" {
			want += fmt.Sprintf(" and a body containing %q", expand(c.Contains))
		}
		what = fmt.Sprintf("GET %s until %s", expand(c.HTTP), want)
	}
	return []string{fmt.Sprintf("check: %s, every %s for up to %s", what, time.Duration(c.Interval), time.Duration(c.Timeout))}
}

// decodeStepKind decodes the key of each kind that n sets (one, unless
// validateStepKeys reports more), and returns the row of the step's kind:
// nil when it has none or several.
func (d *releaseDecoder) decodeStepKind(n *yaml.Node, f map[string]*yaml.Node, field string, s *Step, packages []Package) *stepKind {
	for _, k := range stepKinds {
		if v := f[string(k.kind)]; v != nil {
			k.decode(d, v, field+"."+string(k.kind), s, packages)
		}
	}
	return d.validateStepKeys(n, field)
}

// decodeStepSettings decodes the settings a step of kind row takes (every
// common one when row is nil); those it does not take were reported by
// validateStepKeys.
func (d *releaseDecoder) decodeStepSettings(f map[string]*yaml.Node, field string, s *Step, row *stepKind) {
	var kind StepKind
	if row != nil {
		kind = row.kind
	}
	for _, st := range stepSettings {
		if v := f[st.key]; v != nil && (st.common || row != nil && slices.Contains(row.keys, st.key)) {
			st.decode(d, v, field+"."+st.key, s, kind)
		}
	}
}

// validateStepKeys applies the step kind table to the keys a step
// combines, and returns the step's kind (nil when it has none or several).
func (d *releaseDecoder) validateStepKeys(n *yaml.Node, field string) *stepKind {
	var kinds []*stepKind
	for i, k := range stepKinds {
		if hasKey(n, string(k.kind)) {
			kinds = append(kinds, &stepKinds[i])
		}
	}
	switch len(kinds) {
	case 0:
		d.errorf(n, field, "want exactly one of %s, got none", kindNames(StepKinds()))
		return nil
	case 1:
	default:
		d.errorf(mappingKey(n, string(kinds[1].kind)), field, "%s and %s are mutually exclusive (want exactly one of %s)", kinds[0].kind, kinds[1].kind, kindNames(StepKinds()))
		return nil
	}
	row := kinds[0]
	for _, st := range stepSettings {
		if !st.common && !slices.Contains(row.keys, st.key) && hasKey(n, st.key) {
			d.errorf(mappingKey(n, st.key), field+"."+st.key, "%s", keyNotTaken(row.kind, st.key))
		}
	}
	for _, key := range row.required {
		if !hasKey(n, key) {
			d.errorf(n, field, "%s needs %s: %s", row.kind, key, setting(key).need)
		}
	}
	return row
}
