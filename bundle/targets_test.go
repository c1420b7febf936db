package bundle

import (
	"strings"
	"testing"
)

// TestMatchTargets: the zone must be targeted; host: and role: targets,
// when any is listed, narrow the zone's hosts to those named and those
// holding a role named, added up.
func TestMatchTargets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets []string
		host    string
		roles   []string
		want    string // "" admits; otherwise part of the reason
	}{
		{"zone only", []string{"zone:z"}, "app-01", nil, ""},
		{"other zone", []string{"zone:y"}, "app-01", nil, "not zone:z"},
		{"host named", []string{"zone:z", "host:app-01"}, "app-01", nil, ""},
		{"host not named", []string{"zone:z", "host:app-02"}, "app-01", []string{"web"}, `not this host "app-01" (roles web)`},
		{"role held", []string{"zone:z", "role:web"}, "app-01", []string{"db", "web"}, ""},
		{"role not held", []string{"zone:z", "role:web"}, "db-01", []string{"db"}, "role:web in zone z"},
		{"no roles", []string{"zone:z", "role:web"}, "db-01", nil, "(no roles)"},
		{"host or role", []string{"zone:z", "role:web", "host:db-01"}, "db-01", []string{"db"}, ""},
		{"role of another zone's target still narrows", []string{"zone:z", "zone:y", "role:web"}, "db-01", nil, "role:web"},
		{"invalid target ignored", []string{"zone:z", "cluster:x"}, "app-01", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MatchTargets(tc.targets, "z", tc.host, tc.roles)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("MatchTargets(%q, z, %s, %q) = %q, want %q", tc.targets, tc.host, tc.roles, got, tc.want)
			}
		})
	}
	for _, s := range []string{"role:web", "host:app-01", "zone:z"} {
		if _, _, err := ParseTarget(s); err != nil {
			t.Errorf("ParseTarget(%q): %v", s, err)
		}
	}
	for _, s := range []string{"role:", "role:Web", "group:web", "web"} {
		if _, _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) accepted", s)
		}
	}
}
