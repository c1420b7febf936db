package apply

import (
	"os"
	"path/filepath"
)

// substitutedScript writes a copy of script with its #{...} references
// substituted (a script step with substitute: true) into dir, the step's
// private directory, and returns the copy's path. The staged script stays
// as it was signed, for any other step that runs it.
func substitutedScript(script, dir string, vars *variables) (string, error) {
	in, err := os.Open(script)
	if err != nil {
		return "", err
	}
	defer in.Close()
	sub := filepath.Join(dir, "script")
	if err := os.Mkdir(sub, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(sub, filepath.Base(script))
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return "", err
	}
	err = substituteInto(out, in, vars)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return p, err
}
