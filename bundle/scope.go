package bundle

import (
	"maps"
	"slices"
)

// addScoped adds a variable's scoped values (scope → value) to a
// variables.json scope map (scope → name → value), made when needed.
func addScoped(m *map[string]map[string]string, name string, values map[string]string) {
	for scope, val := range values {
		if *m == nil {
			*m = map[string]map[string]string{}
		}
		if (*m)[scope] == nil {
			(*m)[scope] = map[string]string{}
		}
		(*m)[scope][name] = val
	}
}

// sortedNames returns the keys of m sorted; nil when m is empty.
func sortedNames(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}
