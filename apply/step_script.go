package apply

import (
	"fmt"
	"path/filepath"

	"airlock.dev/airlock/apply/steprun"
)

// scriptStep runs a script of the bundle, as staged or, with substitute:
// true, a copy with its #{...} references substituted (substscript.go).
func (a *applier) scriptStep(r *stepRun) bool {
	return a.processStep(r, func(cmd *steprun.Command, dir string) error {
		s := r.step
		cmd.Script = filepath.Join(r.scripts, filepath.FromSlash(s.Script))
		if !s.Substitute.Script {
			return nil
		}
		var err error
		if cmd.Script, err = substitutedScript(cmd.Script, dir, r.vars); err != nil {
			return fmt.Errorf("substitute %s: %v", s.Script, err)
		}
		return nil
	})
}
