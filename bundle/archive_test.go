package bundle_test

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"

	"airlock.dev/airlock/bundle"
	"airlock.dev/airlock/bundle/bundletest"
)

// archiveYAML is a release of one package unpacked from archive.
func archiveYAML(archive string) string {
	return `apiVersion: airlock/v1
name: shop
version: 1.0.0
targets: [zone:test]
packages:
  - name: app
    archive: ` + archive + `
variables:
  Greeting: hello
steps:
  - name: install
    deploy: app
    to: /srv/shop
    substitute: ["**/*.conf"]
`
}

// appEntries is the content of the good archives.
var appEntries = []bundletest.Entry{
	{Name: "app/", Type: tar.TypeDir},
	{Name: "app/bin/run", Body: "#!/bin/sh\necho run\n", Mode: 0o755},
	{Name: "app/conf/app.conf", Body: "greeting=#{Greeting}\n"},
	{Name: "app/conf/deep/more.conf", Body: "again=#{Greeting}\n"},
	{Name: "app/index.html", Body: "<p>hello</p>\n"},
}

// TestArchivePackages: a package given as a zip, nupkg, tar, tar.gz, tgz or
// tar.zst is unpacked into the payload: every file listed, hashed and
// substitutable, with its execute bit; the manifest names the archive.
func TestArchivePackages(t *testing.T) {
	makers := map[string]func(testing.TB, ...bundletest.Entry) []byte{
		"app-1.0.zip": bundletest.Zip, "app.tar": bundletest.Tar, "app.tar.gz": bundletest.TarGz,
		"app.tgz": bundletest.TarGz, "App.1.0.TAR.ZST": bundletest.TarZst,
	}
	for name, make := range makers {
		t.Run(name, func(t *testing.T) {
			f := bundletest.New(t)
			archive := make(t, appEntries...)
			dir, _ := f.Build(bundletest.Options{YAML: archiveYAML("dist/" + name), Files: map[string]string{"dist/" + name: string(archive)}})
			m := readManifest(t, dir)
			got := map[string]bundle.File{}
			for _, file := range m.Files {
				got[file.Path] = file
			}
			for _, e := range appEntries {
				p := "packages/app/" + strings.TrimSuffix(e.Name, "/")
				file, ok := got[p]
				switch {
				case !ok:
					t.Errorf("%s is not in the manifest", p)
				case e.Type == tar.TypeDir && file.Type != bundle.TypeDir:
					t.Errorf("%s: type %s, want a directory", p, file.Type)
				case e.Type != tar.TypeDir && file.SHA256 != sha(e.Body):
					t.Errorf("%s: sha256 %s, want that of its content", p, file.SHA256)
				case e.Mode == 0o755 && file.Mode != 0o755, e.Mode == 0 && e.Type != tar.TypeDir && file.Mode != 0o644:
					t.Errorf("%s: mode %s", p, file.Mode)
				}
			}
			pkg := m.Packages[0]
			if pkg.Files != 4 || pkg.Archive == nil || pkg.Archive.Name != "dist/"+name ||
				pkg.Archive.Size != int64(len(archive)) || pkg.Archive.SHA256 != sha(string(archive)) {
				t.Errorf("package %+v (archive %+v), want 4 files from dist/%s of %d bytes", pkg, pkg.Archive, name, len(archive))
			}
		})
	}
}

// TestArchiveNupkg: NuGet's own files are left out of a nupkg, as Octopus
// leaves them out, and escaped names are unescaped.
func TestArchiveNupkg(t *testing.T) {
	f := bundletest.New(t)
	nupkg := bundletest.Zip(t,
		bundletest.Entry{Name: "[Content_Types].xml", Body: "<Types/>"},
		bundletest.Entry{Name: "_rels/.rels", Body: "<Relationships/>"},
		bundletest.Entry{Name: "package/services/metadata/core-properties/x.psmdcp", Body: "<x/>"},
		bundletest.Entry{Name: "Shop.Web.nuspec", Body: "<package/>"},
		bundletest.Entry{Name: "conf/app.conf", Body: "greeting=#{Greeting}\n"},
		bundletest.Entry{Name: "wwwroot/My%20Page.html", Body: "<p/>"},
	)
	dir, _ := f.Build(bundletest.Options{YAML: archiveYAML("Shop.Web.1.0.0.nupkg"), Files: map[string]string{"Shop.Web.1.0.0.nupkg": string(nupkg)}})
	var paths []string
	for _, file := range readManifest(t, dir).Files {
		if file.Type == bundle.TypeFile {
			paths = append(paths, file.Path)
		}
	}
	want := "packages/app/conf/app.conf packages/app/wwwroot/My Page.html"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("files %s, want %s", got, want)
	}
}

// TestArchiveUnsafe: what an archive may not hold is a build error naming
// the archive and the entry, found when the release is checked.
func TestArchiveUnsafe(t *testing.T) {
	reg := func(name string) bundletest.Entry { return bundletest.Entry{Name: name, Body: "x"} }
	tests := []struct {
		name    string
		archive string
		data    func(t *testing.T) []byte
		want    string
	}{
		{"zip traversal", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg("conf/a.conf"), reg("../../etc/cron.d/evil")) },
			`entry "../../etc/cron.d/evil": leaves the archive (".." is not allowed)`},
		{"zip absolute", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg("/etc/passwd")) },
			`entry "/etc/passwd": is an absolute path`},
		{"zip drive", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg("C:/Windows/evil.dll")) },
			`entry "C:/Windows/evil.dll": is an absolute path`},
		{"zip backslash", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg(`..\evil`)) },
			`entry "..\\evil": uses "\" in its name`},
		{"zip symlink", "app.zip", func(t *testing.T) []byte {
			return bundletest.Zip(t, bundletest.Entry{Name: "conf", Type: tar.TypeSymlink, Link: "/etc"})
		}, `entry "conf": is a symbolic link: archives may hold only regular files and directories`},
		{"zip duplicate", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg("a.conf"), reg("b"), reg("a.conf")) },
			`entry "a.conf": appears twice`},
		{"zip case collision", "app.zip", func(t *testing.T) []byte { return bundletest.Zip(t, reg("conf/App.conf"), reg("conf/app.conf")) },
			`entry "conf/app.conf": collides with "conf/App.conf" on case-insensitive file systems`},
		{"tar symlink", "app.tar", func(t *testing.T) []byte {
			return bundletest.Tar(t, reg("a"), bundletest.Entry{Name: "conf/x.conf", Type: tar.TypeSymlink, Link: "/etc/shadow"})
		}, `entry "conf/x.conf": is a symbolic link`},
		{"tar hard link", "app.tar.gz", func(t *testing.T) []byte {
			return bundletest.TarGz(t, reg("a"), bundletest.Entry{Name: "b", Type: tar.TypeLink, Link: "a"})
		}, `entry "b": is a hard link`},
		{"tar device", "app.tar.zst", func(t *testing.T) []byte {
			return bundletest.TarZst(t, bundletest.Entry{Name: "dev/null", Type: tar.TypeChar})
		}, `entry "dev/null": is a device`},
		{"tar fifo", "app.tar", func(t *testing.T) []byte { return bundletest.Tar(t, bundletest.Entry{Name: "p", Type: tar.TypeFifo}) },
			`entry "p": is a named pipe`},
		{"tar duplicate", "app.tar", func(t *testing.T) []byte { return bundletest.Tar(t, reg("./a"), reg("b"), reg("a")) },
			`entry "a": appears twice`},
		{"tar file and directory", "app.tgz", func(t *testing.T) []byte { return bundletest.TarGz(t, reg("conf"), reg("conf/a.conf")) },
			`entry "conf/a.conf": is inside "conf", which is a file`},
		{"tar traversal", "app.tar", func(t *testing.T) []byte { return bundletest.Tar(t, reg("a/../../b")) },
			`entry "a/../../b": leaves the archive`},
		{"nupkg escaped traversal", "app.nupkg", func(t *testing.T) []byte { return bundletest.Zip(t, reg("lib/..%2F..%2Fevil.dll")) },
			`entry "lib/..%2F..%2Fevil.dll": leaves the archive`},
		{"not a zip", "app.zip", func(t *testing.T) []byte { return []byte("PK but not really") },
			`not a zip archive`},
		{"not gzip", "app.tar.gz", func(t *testing.T) []byte { return bundletest.Tar(t, reg("a")) },
			`not gzip-compressed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := bundletest.New(t)
			dir := f.WriteRelease(archiveYAML("dist/"+tt.archive), map[string]string{"dist/" + tt.archive: string(tt.data(t))}, 0)
			_, err := bundle.LoadRelease(dir)
			var re *bundle.ReleaseError
			if err == nil || !errors.As(err, &re) {
				t.Fatalf("LoadRelease = %v, want a release error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "packages[0].archive: \"dist/"+tt.archive+"\": ") || !strings.Contains(msg, tt.want) {
				t.Errorf("error\n %s\nwant it to name dist/%s and say\n %s", msg, tt.archive, tt.want)
			}
		})
	}
}

// TestArchiveChangedBeforeBuild: the build reads the archive the check
// read, or fails.
func TestArchiveChangedBeforeBuild(t *testing.T) {
	f := bundletest.New(t)
	dir := f.WriteRelease(archiveYAML("app.zip"), map[string]string{"app.zip": string(bundletest.Zip(t, appEntries...))}, 0)
	rel, err := bundle.LoadRelease(dir)
	if err != nil {
		t.Fatal(err)
	}
	changed := append([]bundletest.Entry(nil), appEntries...)
	changed[4].Body = "<p>HELLO</p>\n" // same size, other content
	if err := os.WriteFile(filepath.Join(dir, "app.zip"), bundletest.Zip(t, changed...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = bundle.Build(t.Context(), bundle.BuildOptions{Release: rel, Signer: f.Release, Recipients: []age.Recipient{f.Identity.Recipient()},
		Out: filepath.Join(f.Dir, "out"), LedgerDir: f.Ledger})
	if err == nil || !strings.Contains(err.Error(), "changed since the release was checked") {
		t.Fatalf("Build = %v, want a changed archive refused", err)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "out")); !os.IsNotExist(err) {
		t.Errorf("output left behind: %v", err)
	}
}

// TestArchiveUnresolvedReference: files of an archive are checked like
// those of a folder: the error names the file inside the archive.
func TestArchiveUnresolvedReference(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the expected path uses /")
	}
	f := bundletest.New(t)
	entries := append([]bundletest.Entry(nil), appEntries...)
	entries[3].Body = "again=#{Greting}\n"
	dir := f.WriteRelease(archiveYAML("app.tar"), map[string]string{"app.tar": string(bundletest.Tar(t, entries...))}, 0)
	_, err := bundle.LoadRelease(dir)
	want := dir + "/app.tar/app/conf/deep/more.conf:1:7: steps[0].substitute[0]: unresolved reference #{Greting} (did you mean #{Greeting}?)"
	if err == nil || err.Error() != want {
		t.Fatalf("LoadRelease = %v\nwant %s", err, want)
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
