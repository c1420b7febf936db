package apply

import (
	"io/fs"
	"runtime"
	"strings"
	"testing"

	"airlock.dev/airlock/bundle"
)

// TestFilesRules: the rules that match a file apply in order, each
// setting what it names (a later rule wins); a file holding a secret is
// readable by its owner only unless a rule sets its mode. On Windows every
// rule is refused, with a reason; elsewhere owners and groups are looked up
// by name or taken as numbers.
func TestFilesRules(t *testing.T) {
	rules := []bundle.FileRule{
		{Match: "config/**", Mode: 0o640, Owner: "1001", Group: "1002"},
		{Match: "config/secret/*", Mode: 0o600},
		{Match: "config/app.json", Group: "1003"},
		{Match: "bin/*", Mode: 0o750},
	}
	var d deployFiles
	for _, r := range rules {
		fr, err := lookupRule(r)
		if runtime.GOOS == "windows" {
			if err == nil || !strings.Contains(err.Error(), "Windows does not have") {
				t.Fatalf("windows: lookupRule(%+v) = %v, want a refusal saying why", r, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		d.rules = append(d.rules, fr)
	}
	for _, tc := range []struct {
		rel       string
		mode      fs.FileMode
		sensitive bool
		want      fileAttrs
	}{
		{"config/app.json", 0o644, false, fileAttrs{mode: 0o640, uid: 1001, gid: 1003, owner: "1001", group: "1003"}},
		{"config/secret/key.pem", 0o644, true, fileAttrs{mode: 0o600, uid: 1001, gid: 1002, owner: "1001", group: "1002"}},
		{"config/app.yaml", 0o644, true, fileAttrs{mode: 0o640, uid: 1001, gid: 1002, owner: "1001", group: "1002"}},
		{"bin/run", 0o755, true, fileAttrs{mode: 0o750, uid: -1, gid: -1}},
		{"lib/run.sh", 0o755, true, fileAttrs{mode: 0o700, uid: -1, gid: -1}},
		{"web/app.conf", 0o644, true, fileAttrs{mode: 0o600, uid: -1, gid: -1}},
		{"web/index.html", 0o644, false, fileAttrs{mode: 0o644, uid: -1, gid: -1}},
	} {
		if got := d.attrs(tc.rel, tc.mode, tc.sensitive); got != tc.want {
			t.Errorf("%s (sensitive %v): %+v, want %+v", tc.rel, tc.sensitive, got, tc.want)
		}
	}
	if _, err := lookupRule(bundle.FileRule{Match: "x", Owner: "no-such-user-x"}); err == nil || !strings.Contains(err.Error(), "owner no-such-user-x") {
		t.Errorf("unknown owner: %v", err)
	}
	if _, err := lookupRule(bundle.FileRule{Match: "x", Group: "no-such-group-x"}); err == nil || !strings.Contains(err.Error(), "group no-such-group-x") {
		t.Errorf("unknown group: %v", err)
	}
}
