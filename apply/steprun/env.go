package steprun

import (
	"runtime"
	"strings"
)

// BaseEnv returns the entries of environ (as from os.Environ) whose names are
// on the allow-list: PATH, HOME, USER, LOGNAME, LANG, LC_ALL, LC_CTYPE, TZ,
// TMPDIR and TERM; on Windows also SystemRoot, SystemDrive, ComSpec,
// PATHEXT, windir, TEMP, TMP, USERPROFILE, PROCESSOR_ARCHITECTURE,
// ProgramData and ProgramFiles, with names compared case-insensitively as
// Windows does. Everything else, including the applier's own secrets, is
// dropped. Order is kept.
func BaseEnv(environ []string) []string {
	return baseEnv(environ, runtime.GOOS == "windows")
}

func baseEnv(environ []string, windows bool) []string {
	names := allowList(windows)
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && name != "" && allowed(name, names, windows) {
			out = append(out, kv)
		}
	}
	return out
}

func allowed(name string, names []string, foldCase bool) bool {
	for _, n := range names {
		if n == name || foldCase && strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// allowList returns the names BaseEnv keeps.
func allowList(windows bool) []string {
	names := []string{
		"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
	}
	if windows {
		names = append(names,
			"SystemRoot", "SystemDrive", "ComSpec", "PATHEXT", "windir", "TEMP", "TMP",
			"USERPROFILE", "PROCESSOR_ARCHITECTURE", "ProgramData", "ProgramFiles")
	}
	return names
}
