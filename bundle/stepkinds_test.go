package bundle

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStepKindTable: every row of the step kind table is complete — it
// says when a step is of its kind, decodes its key, and describes it —
// and names only settings of the settings table, which are complete too.
func TestStepKindTable(t *testing.T) {
	settings := map[string]stepSetting{}
	for _, st := range stepSettings {
		if _, dup := settings[st.key]; dup || st.key == "" || st.decode == nil {
			t.Errorf("setting %q: empty, repeated or without a decoder", st.key)
		}
		if st.common && st.set != nil {
			t.Errorf("setting %s: common to every kind, so no kind can be refused it (set must be nil)", st.key)
		}
		settings[st.key] = st
	}
	kinds := map[StepKind]bool{}
	for _, k := range stepKinds {
		switch {
		case k.kind == "" || kinds[k.kind]:
			t.Errorf("kind %q: empty or repeated", k.kind)
		case k.set == nil || k.decode == nil || k.describe == nil:
			t.Errorf("kind %s: a row needs set, decode and describe", k.kind)
		case k.kind == "name" || slices.Contains(settingKeys(false), string(k.kind)):
			t.Errorf("kind %s: its key is taken by a setting", k.kind)
		}
		kinds[k.kind] = true
		for _, key := range k.keys {
			if st, ok := settings[key]; !ok || st.common {
				t.Errorf("kind %s: takes %q, which is not a setting of a kind (common ones go without saying)", k.kind, key)
			}
		}
		for _, key := range k.required {
			if st := settings[key]; !slices.Contains(k.keys, key) || st.set == nil || st.need == "" {
				t.Errorf("kind %s: requires %q, which it must take, and whose row must say when it is set and what it is for", k.kind, key)
			}
		}
	}
}

// TestStepDescribe: each kind describes itself with the references
// resolved (as plan does) or as written (as inspect does), and a step of
// no known kind, or of two, is described as that, not as another kind.
func TestStepDescribe(t *testing.T) {
	resolve := strings.NewReplacer("#{Root}", "/srv", "#{Airlock.Release.Version}", "1.0", "#{Port}", "8443", "#{Word}", "ok").Replace
	asWritten := func(s string) string { return s }
	health := &HealthCheck{HTTP: "https://localhost:#{Port}/health", Contains: "#{Word}",
		Timeout: Duration(DefaultHealthTimeout), Interval: Duration(DefaultHealthInterval)}
	for _, tc := range []struct {
		step              Step
		resolved, written string
	}{
		{Step{Run: "echo #{Word}\nexit 0\n"}, "echo ok\nexit 0", "echo #{Word}\nexit 0"},
		{Step{Script: "scripts/migrate.sh", Substitute: Substitution{Script: true}},
			"run script scripts/migrate.sh with #{...} substituted", "run script scripts/migrate.sh with #{...} substituted"},
		{Step{Deploy: "app", To: "#{Root}", Keep: 2, Substitute: Substitution{Globs: []string{"*.json"}},
			Structured: []string{"app.yaml"}, Files: []FileRule{{Match: "bin/*", Mode: 0o750, Owner: "app"}}},
			"deploy package app to /srv/releases/1.0, switch /srv/current (keep 2)\nsubstitute #{...} in *.json\nreplace values by key path in app.yaml\nfiles bin/* mode 0750, owner app",
			"deploy package app to #{Root}/releases/#{Airlock.Release.Version}, switch #{Root}/current (keep 2)\nsubstitute #{...} in *.json\nreplace values by key path in app.yaml\nfiles bin/* mode 0750, owner app"},
		{Step{Check: health},
			`check: GET https://localhost:8443/health until any 2xx status and a body containing "ok", every 2s for up to 1m0s`,
			`check: GET https://localhost:#{Port}/health until any 2xx status and a body containing "#{Word}", every 2s for up to 1m0s`},
		{Step{Check: &HealthCheck{TCP: "db:5432", Timeout: Duration(time.Minute), Interval: Duration(time.Second)}},
			"check: connect to db:5432, every 1s for up to 1m0s", "check: connect to db:5432, every 1s for up to 1m0s"},
		{Step{Name: "nothing"}, "a step of no kind this airlock knows (want exactly one of run, script, deploy, check or push)", ""},
		{Step{Run: "true", Deploy: "app"}, "a step of no kind this airlock knows (want exactly one of run, script, deploy, check or push)", ""},
	} {
		if got := strings.Join(tc.step.Describe(resolve), "\n"); got != tc.resolved {
			t.Errorf("%s: resolved\n got %q\nwant %q", tc.step.Kind(), got, tc.resolved)
		}
		if tc.written == "" {
			tc.written = tc.resolved
		}
		if got := strings.Join(tc.step.Describe(asWritten), "\n"); got != tc.written {
			t.Errorf("%s: as written\n got %q\nwant %q", tc.step.Kind(), got, tc.written)
		}
	}
}

// TestStepTexts: the settings that may hold references are those of the
// step's kind, named as airlock.yaml names them.
func TestStepTexts(t *testing.T) {
	s := Step{Check: &HealthCheck{HTTP: "http://#{H}/", Contains: "x"}, To: "#{ignored: not a setting of a check}"}
	var keys []string
	for _, txt := range s.Texts() {
		keys = append(keys, txt.Key+"="+txt.Text)
	}
	if want := "check.http=http://#{H}/ check.tcp= check.contains=x check.caFile="; strings.Join(keys, " ") != want {
		t.Errorf("Texts = %q, want %q", keys, want)
	}
	if got := (&Step{Deploy: "app", To: "#{Root}"}).Texts(); len(got) != 1 || got[0] != (StepText{"to", "#{Root}"}) {
		t.Errorf("deploy Texts = %v", got)
	}
}
