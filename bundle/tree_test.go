package bundle

import (
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

// TestReleaseCheckPayloadPaths: what makes a bad payload is reported by
// Check, before anything is built, at the field that named it.
func TestReleaseCheckPayloadPaths(t *testing.T) {
	const yamlPath = "$DIR/airlock.yaml"
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name:  "unportable name in a package",
			files: map[string]string{"dist/app/config/a:b.json": "{}"},
			want:  yamlPath + `:7:11: packages[0].path: "dist/app/config/a:b.json": path "packages/app/config/a:b.json": character ':' not allowed (not portable)`,
		},
		{
			name:  "case collision in a package",
			files: map[string]string{"dist/app/config/App.json": "{}"},
			want:  yamlPath + `:7:11: packages[0].path: payload paths packages/app/config/App.json and packages/app/config/app.json collide on case-insensitive file systems`,
		},
		{
			name: "script under packages/",
			files: map[string]string{
				releaseFileName:       strings.Replace(goodTree()[releaseFileName], "script: scripts/migrate.sh", "script: packages/migrate.sh", 1),
				"packages/migrate.sh": "#!/bin/sh\n",
			},
			want: yamlPath + `:14:13: steps[0].script: script path "packages/migrate.sh" is reserved in the payload (packages/, images/ and variables.json); move the file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tt.name, "unportable") {
				t.Skip("':' cannot be in a file name on windows")
			}
			files := goodTree()
			for name, content := range tt.files {
				files[name] = content
			}
			dir := writeRelease(t, files)
			if got := loadErrors(t, dir); got != tt.want {
				t.Errorf("LoadRelease errors\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestWalkTreeFS: the walker reads any fs.FS, so a release from another
// source (an archive) needs a new FS, not a new walker.
func TestWalkTreeFS(t *testing.T) {
	r, err := ParseRelease("airlock.yaml", []byte(goodTree()[releaseFileName]))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"dist/app/config/app.json": {Data: []byte("{}"), Mode: 0o644},
		"dist/app/bin/app":         {Data: []byte("ELF"), Mode: 0o755},
		"dist/single.conf":         {Data: []byte("port=1\n"), Mode: 0o644},
		"scripts/migrate.sh":       {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
	}
	tr, problems := walkTree(fsys, r)
	if len(problems) > 0 {
		t.Fatalf("problems: %+v", problems)
	}
	var got []string
	for _, e := range tr.entries {
		got = append(got, e.Type+" "+e.Path+" "+e.Mode.String()+" "+e.src)
	}
	want := []string{
		"dir packages 0755 ",
		"dir packages/app 0755 ",
		"dir packages/app/bin 0755 ",
		"file packages/app/bin/app 0755 dist/app/bin/app",
		"dir packages/app/config 0755 ",
		"file packages/app/config/app.json 0644 dist/app/config/app.json",
		"dir packages/single 0755 ",
		"file packages/single/single.conf 0644 dist/single.conf",
		"dir scripts 0755 ",
		"file scripts/migrate.sh 0755 scripts/migrate.sh",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(tr.pkgs) != 2 || tr.pkgs[0].Files != 2 || tr.pkgs[0].Size != 5 || tr.pkgs[1].Files != 1 {
		t.Errorf("packages %+v", tr.pkgs)
	}
	delete(fsys, "scripts/migrate.sh")
	if _, problems := walkTree(fsys, r); len(problems) != 1 || problems[0].field != "steps[0].script" || !strings.Contains(problems[0].msg, "does not exist") {
		t.Errorf("missing script: %+v", problems)
	}
}

// TestWalkTreeRepeats: a script two steps run is one entry; a payload path
// two sources claim, or two paths that differ only in case (variables.json
// included), are problems at the field that added the later one.
func TestWalkTreeRepeats(t *testing.T) {
	yaml := `apiVersion: airlock/v1
name: shop
version: 1.0.0
targets: [zone:test]
packages:
  - name: app
    path: dist
steps:
  - name: one
    script: scripts/run.sh
  - name: two
    script: scripts/run.sh
  - name: three
    script: Variables.JSON
  - name: four
    script: scripts/RUN.sh
`
	r, err := ParseRelease("airlock.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"dist/a.txt":     {Data: []byte("a"), Mode: 0o644},
		"dist/A.TXT":     {Data: []byte("b"), Mode: 0o644},
		"scripts/run.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"scripts/RUN.sh": {Data: []byte("#!/bin/sh\n"), Mode: 0o755},
		"Variables.JSON": {Data: []byte("{}"), Mode: 0o644},
	}
	tr, problems := walkTree(fsys, r)
	var got []string
	for _, p := range problems {
		got = append(got, p.field+": "+p.msg)
	}
	want := []string{
		"steps[2].script: payload paths variables.json and Variables.JSON collide on case-insensitive file systems",
		"packages[0].path: payload paths packages/app/A.TXT and packages/app/a.txt collide on case-insensitive file systems",
		"steps[0].script: payload paths scripts/RUN.sh and scripts/run.sh collide on case-insensitive file systems",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	n := 0
	for _, e := range tr.entries {
		if e.Path == "scripts/run.sh" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("scripts/run.sh is %d entries, want 1", n)
	}
}
