//go:build linux

package apply

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// wineTests are this package's tests that are not Unix-specific (the
// others run steps with sh): they build for Windows and run there.
var wineTests = []string{"TestJunctionBuffer", "TestFilesRules", "TestReleaseSwitch", "TestDeployTargetRules", "TestApplyChecks", "TestApplyDeploys", "TestStateFilesRejectCaseVariants"}

// wineMustPass are those that Wine 8.0 (Debian 12) runs through; the
// others need what it lacks and skip there, saying so.
var wineMustPass = []string{"TestJunctionBuffer", "TestFilesRules", "TestDeployTargetRules", "TestApplyChecks", "TestStateFilesRejectCaseVariants"}

// TestUnderWine cross-compiles this package's tests for windows/amd64
// and runs wineTests under Wine, in a fresh Wine prefix. It skips without
// Wine and the MinGW binutils, unless AIRLOCK_REQUIRE_WINE=1 (CI), where
// their absence fails.
//
// What Wine 8.0 lacks, and how the run deals with it:
//   - bcryptprimitives.dll, whose ProcessPrng the Go runtime needs: a DLL
//     that forwards it to advapi32's SystemFunction036 (RtlGenRandom) is
//     linked with the MinGW binutils into the prefix's system32;
//   - FileDispositionInformationEx, with which Go's os.RemoveAll and
//     Root.Remove delete files (Wine answers STATUS_NOT_IMPLEMENTED, which
//     Go does not fall back from): the tests keep their temporary folders
//     (AIRLOCK_TEST_KEEP_TEMP=1), which go with the prefix; airlock's own
//     removals of staging folders fail there, and an apply warns;
//   - FSCTL_SET_REPARSE_POINT: no junctions, so the release switch itself
//     (TestReleaseSwitch, TestApplyDeploys, the planted-junction cases of
//     TestDeployTargetRules) skips under Wine, saying so, and is covered
//     only on Windows itself.
func TestUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles and starts Wine")
	}
	require := os.Getenv("AIRLOCK_REQUIRE_WINE") == "1"
	var missing []string
	tools := map[string]string{}
	for _, tool := range []string{"wine", "wineserver", "x86_64-w64-mingw32-as", "x86_64-w64-mingw32-ld"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			missing = append(missing, tool)
		}
		tools[tool] = p
	}
	if len(missing) > 0 {
		if require {
			t.Fatalf("not found: %s (AIRLOCK_REQUIRE_WINE=1; Debian: wine, wine64, binutils-mingw-w64-x86-64)", strings.Join(missing, ", "))
		}
		t.Skipf("not found: %s", strings.Join(missing, ", "))
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "apply.test.exe")
	build := exec.Command("go", "test", "-c", "-o", exe, ".")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c for windows: %v\n%s", err, out)
	}
	prefix := filepath.Join(dir, "prefix")
	env := append(os.Environ(), "WINEPREFIX="+prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=;bcryptprimitives=n",
		"WINEARCH=win64", "DISPLAY=", "AIRLOCK_TEST_KEEP_TEMP=1")
	wine := func(args ...string) *exec.Cmd {
		c := exec.Command(tools["wine"], args...)
		c.Env, c.Dir = env, dir
		return c
	}
	t.Cleanup(func() {
		kill := exec.Command(tools["wineserver"], "-k") // the prefix's server, started by wine
		kill.Env = env
		kill.Run()
	})
	if out, err := wine("wineboot", "--init").CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	shim := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	linkShim(t, tools, dir, shim)
	run := wine(exe, "-test.v", "-test.count=1", "-test.run", "^("+strings.Join(wineTests, "|")+")$")
	out, err := run.CombinedOutput()
	t.Logf("under Wine:\n%s", out)
	if err != nil {
		t.Fatalf("the Windows tests failed under Wine: %v", err)
	}
	for _, name := range wineMustPass {
		if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` `).Match(out) {
			t.Errorf("%s did not pass under Wine", name)
		}
	}
}

// linkShim links bcryptprimitives.dll: no code, one export, ProcessPrng,
// forwarded to advapi32.SystemFunction036.
func linkShim(t *testing.T, tools map[string]string, dir, dll string) {
	t.Helper()
	def := filepath.Join(dir, "bcryptprimitives.def")
	src, obj := filepath.Join(dir, "empty.s"), filepath.Join(dir, "empty.o")
	for name, data := range map[string]string{def: "LIBRARY bcryptprimitives.dll\nEXPORTS\nProcessPrng = advapi32.SystemFunction036\n", src: ".text\n"} {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range [][]string{
		{tools["x86_64-w64-mingw32-as"], "-o", obj, src},
		{tools["x86_64-w64-mingw32-ld"], "-shared", "--entry", "0", "-o", dll, obj, def},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(c[0]), err, out)
		}
	}
}
