package apply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/subst"
	"airlock.dev/airlock/receipt"
	"airlock.dev/airlock/zone"
)

// variables resolves #{Name} references during an apply. Values of
// declared variables come, lowest precedence first, from the bundle, the
// bundle's value for this zone, for a role of this host, for this host,
// then the host's trust.yaml (its variables, then those of the bundle's
// application) and --var-file: the most specific wins.
// Sensitive values live only here and in the files they are substituted into.
type variables struct {
	values    map[string]string
	sensitive map[string]bool                   // declared sensitive, and outputs published as sensitive
	source    map[string]receipt.VariableSource // where each declared variable's value comes from
	builtins  map[bundle.Builtin]string
	outputs   map[string]string // "Steps.<step>.<name>"
	used      map[string]bool
}

// scope is the zone, host and host roles an apply resolves variables for.
type scope struct {
	zone, host string
	roles      []string
}

func resolveVariables(doc *bundle.VariablesDoc, m *bundle.Manifest, sc scope, layers ...namedValues) (*variables, error) {
	v := &variables{values: map[string]string{}, sensitive: map[string]bool{}, source: map[string]receipt.VariableSource{},
		builtins: map[bundle.Builtin]string{}, outputs: map[string]string{}, used: map[string]bool{}}
	for _, d := range m.Variables {
		val, ok := doc.Values[d.Name]
		if !ok {
			return nil, fmt.Errorf("variables.json has no value for declared variable %s", d.Name)
		}
		v.values[d.Name], v.source[d.Name] = val, receipt.VariableSource{Name: d.Name, Origin: receipt.OriginBundle}
		v.sensitive[d.Name] = d.Sensitive
	}
	if len(doc.Values) != len(m.Variables) {
		return nil, fmt.Errorf("variables.json holds %d values for %d declared variables", len(doc.Values), len(m.Variables))
	}
	roleValues, err := roleLayer(doc, sc, layers)
	if err != nil {
		return nil, err
	}
	layers = append([]namedValues{
		{what: "the bundle's values for zone " + sc.zone, source: receipt.VariableSource{Origin: receipt.OriginBundleZone, Scope: sc.zone}, values: doc.ByZone[sc.zone]},
		roleValues,
		{what: "the bundle's values for host " + sc.host, source: receipt.VariableSource{Origin: receipt.OriginBundleHost, Scope: sc.host}, values: doc.ByHost[sc.host]},
	}, layers...)
	for _, l := range layers {
		for _, name := range sortedKeys(l.values) {
			if _, ok := v.values[name]; !ok {
				return nil, fmt.Errorf("%s: variable %s is not declared by the bundle", l.what, name)
			}
			src := l.source
			if s, ok := l.sources[name]; ok {
				src = s
			}
			src.Name, src.Replaced = name, src.Origin.Zone()
			v.values[name], v.source[name] = l.values[name], src
		}
	}
	return v, nil
}

// ErrRoleConflict means two roles of the host give a variable different
// values and nothing more specific chooses one.
var ErrRoleConflict = errors.New("two roles of this host give a variable different values")

// roleLayer is the bundle's values for the host's roles. Where two of its
// roles give one variable different values, the host's own value (byHost)
// or the zone's (trust.yaml, --var-file) must choose: airlock does not
// guess, and refuses the apply.
func roleLayer(doc *bundle.VariablesDoc, sc scope, more []namedValues) (namedValues, error) {
	l := namedValues{what: "the bundle's values for the roles of host " + sc.host, values: map[string]string{}, sources: map[string]receipt.VariableSource{}}
	chosen := func(name string) bool {
		if _, ok := doc.ByHost[sc.host][name]; ok {
			return true
		}
		return slices.ContainsFunc(more, func(m namedValues) bool { _, ok := m.values[name]; return ok })
	}
	var conflicts []string
	for _, role := range sc.roles { // sorted
		for _, name := range sortedKeys(doc.ByRole[role]) {
			val := doc.ByRole[role][name]
			prev, seen := l.values[name]
			switch {
			case !seen:
				l.values[name], l.sources[name] = val, receipt.VariableSource{Origin: receipt.OriginBundleRole, Scope: role}
			case prev != val && !chosen(name):
				conflicts = append(conflicts, fmt.Sprintf("%s (%s and role %s)", name, l.sources[name].Where(), role))
			}
		}
	}
	if len(conflicts) > 0 {
		return l, fmt.Errorf("%w: %s on host %s: give the host its own value (byHost in airlock.yaml) or set it in the zone (trust.yaml variables, --var-file)",
			ErrRoleConflict, strings.Join(conflicts, ", "), sc.host)
	}
	return l, nil
}

// namedValues are values of variables from one source: what names it in
// errors, source where the values come from (sources, when set, per
// variable).
type namedValues struct {
	what    string
	source  receipt.VariableSource
	values  map[string]string
	sources map[string]receipt.VariableSource
}

// zoneLayer is the zone's values from one file, trust.yaml or a
// --var-file, described by src: literals, and the content of the files
// their {fromFile: PATH} name, read and checked here (zone.Value.Read).
func zoneLayer(what string, src receipt.VariableSource, vals map[string]zone.Value) (namedValues, error) {
	l := namedValues{what: what, source: src, values: map[string]string{}, sources: map[string]receipt.VariableSource{}}
	for _, name := range sortedKeys(vals) {
		val, err := vals[name].Read()
		if err != nil {
			return l, fmt.Errorf("%s: variable %s: %w", what, name, err)
		}
		s := src
		s.FromFile = vals[name].FromFile
		l.values[name], l.sources[name] = val, s
	}
	return l, nil
}

// sources lists where each declared variable's value comes from, by
// name: at most receipt.MaxListedSources, and when there are more, those
// the zone replaced first, and how many there are (else 0).
func (v *variables) sources() ([]receipt.VariableSource, int) {
	out := make([]receipt.VariableSource, 0, len(v.source))
	for _, name := range sortedKeys(v.source) {
		out = append(out, v.source[name])
	}
	if len(out) <= receipt.MaxListedSources {
		return out, 0
	}
	slices.SortStableFunc(out, func(a, b receipt.VariableSource) int {
		switch {
		case a.Replaced == b.Replaced:
			return 0
		case a.Replaced:
			return -1
		}
		return 1
	})
	return out[:receipt.MaxListedSources], len(out)
}

func (v *variables) lookup(name string) (string, bool) {
	if val, ok := v.values[name]; ok {
		v.used[name] = true
		return val, true
	}
	if val, ok := v.builtins[bundle.Builtin(name)]; ok {
		return val, true
	}
	val, ok := v.outputs[name]
	return val, ok
}

// expand substitutes references in text.
func (v *variables) expand(text string) (string, error) {
	out, err := subst.Expand([]byte(text), v.lookup)
	return string(out), err
}

// expandFile substitutes references in the content of a file, and
// reports whether a sensitive value (a sensitive variable or step output)
// was looked up for it.
func (v *variables) expandFile(data []byte) ([]byte, bool, error) {
	sensitive := false
	out, err := subst.Expand(data, func(name string) (string, bool) {
		val, ok := v.lookup(name)
		sensitive = sensitive || (ok && v.sensitive[name])
		return val, ok
	})
	return out, sensitive, err
}

// checkRefs reports references in text that nothing can resolve, treating
// outputs of steps as resolvable (they appear while steps run).
func (v *variables) checkRefs(text string) error {
	refs, err := subst.Refs([]byte(text))
	if err != nil {
		return err
	}
	var missing []string
	for _, r := range refs {
		if strings.HasPrefix(r.Name, "Steps.") {
			continue
		}
		if _, ok := v.values[r.Name]; ok {
			continue
		}
		if _, ok := v.builtins[bundle.Builtin(r.Name)]; ok {
			continue
		}
		missing = append(missing, r.Name)
	}
	if len(missing) > 0 {
		return &subst.UnresolvedError{Names: missing}
	}
	return nil
}

// env is the environment of a step: declared variables by name (those
// named by a key path, for structured replacement, are not), and the
// AIRLOCK_* built-ins.
func (v *variables) env(base []string) []string {
	env := append([]string(nil), base...)
	for _, name := range sortedKeys(v.values) {
		if bundle.InEnvironment(name) {
			env = append(env, name+"="+v.values[name])
		}
	}
	for _, b := range bundle.Builtins {
		if val, ok := v.builtins[b]; ok {
			env = append(env, b.EnvName()+"="+val)
		}
	}
	return env
}

func (v *variables) secrets() []string {
	var out []string
	for name, s := range v.sensitive {
		if s && v.values[name] != "" {
			out = append(out, v.values[name])
		}
	}
	return out
}

// usedNames lists the declared variables referenced so far (never values).
func (v *variables) usedNames() []string {
	return sortedKeys(v.used)
}

func (v *variables) setBuiltins(p *bundle.Predicate, zone, host string) {
	v.builtins[bundle.BuiltinReleaseName] = p.Name
	v.builtins[bundle.BuiltinReleaseVersion] = p.Version
	v.builtins[bundle.BuiltinReleaseChannel] = p.Channel
	v.builtins[bundle.BuiltinBundleID] = p.BundleID
	v.builtins[bundle.BuiltinBundleSequence] = strconv.FormatUint(p.Sequence, 10)
	v.builtins[bundle.BuiltinZone] = zone
	v.builtins[bundle.BuiltinHost] = host
}

// loadVarFile reads a --var-file: a YAML map of variable names to values,
// written as trust.yaml's variables are (a literal, or {fromFile: PATH}
// relative to the var-file), and describes it as a source of values, with
// the digest of its bytes.
func loadVarFile(path string) (map[string]zone.Value, receipt.VariableSource, error) {
	src := receipt.VariableSource{Origin: receipt.OriginVarFile, File: path}
	data, err := capped.ReadFile(path, 1<<20)
	if err != nil {
		return nil, src, err
	}
	sum := sha256.Sum256(data)
	src.SHA256 = hex.EncodeToString(sum[:])
	var vals map[string]zone.Value
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&vals); err != nil && err != io.EOF {
		return nil, src, fmt.Errorf("%s: want a map of variable names to values (a scalar or {fromFile: PATH}): %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, src, err
	}
	for name, v := range vals {
		vals[name] = v.Resolve(dir)
	}
	return vals, src, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
