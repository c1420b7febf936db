package apply

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/internal/capped"
	"airlock.dev/airlock/internal/subst"
)

// variables resolves #{Name} references during an apply. Values of
// declared variables come, lowest precedence first, from the bundle, the
// bundle's value for this zone, the zone's trust.yaml, and --var-file.
// Sensitive values live only here and in the files they are substituted into.
type variables struct {
	values    map[string]string
	sensitive map[string]bool
	builtins  map[bundle.Builtin]string
	outputs   map[string]string // "Steps.<step>.<name>"
	used      map[string]bool
}

func resolveVariables(doc *bundle.VariablesDoc, m *bundle.Manifest, zone string, layers ...namedValues) (*variables, error) {
	v := &variables{values: map[string]string{}, sensitive: map[string]bool{}, builtins: map[bundle.Builtin]string{},
		outputs: map[string]string{}, used: map[string]bool{}}
	for _, d := range m.Variables {
		val, ok := doc.Values[d.Name]
		if !ok {
			return nil, fmt.Errorf("variables.json has no value for declared variable %s", d.Name)
		}
		v.values[d.Name] = val
		v.sensitive[d.Name] = d.Sensitive
	}
	if len(doc.Values) != len(m.Variables) {
		return nil, fmt.Errorf("variables.json holds %d values for %d declared variables", len(doc.Values), len(m.Variables))
	}
	layers = append([]namedValues{{"the bundle's values for zone " + zone, doc.ByZone[zone]}}, layers...)
	for _, l := range layers {
		for _, name := range sortedKeys(l.values) {
			if _, ok := v.values[name]; !ok {
				return nil, fmt.Errorf("%s: variable %s is not declared by the bundle", l.source, name)
			}
			v.values[name] = l.values[name]
		}
	}
	return v, nil
}

type namedValues struct {
	source string
	values map[string]string
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

// LoadVarFile reads a YAML map of variable names to string values.
func LoadVarFile(path string) (map[string]string, error) {
	data, err := capped.ReadFile(path, 1<<20)
	if err != nil {
		return nil, err
	}
	var vals map[string]string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&vals); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: want a map of variable names to string values: %w", path, err)
	}
	return vals, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
