package apply

import (
	"errors"

	"airlock.dev/airlock/bundle"
)

// lookupRule refuses every files: rule on Windows: a deployed file takes
// its access from the ACLs of the deploy target, and Unix modes, owners
// and groups cannot be set, so a rule would not be honoured.
func lookupRule(r bundle.FileRule) (fileRule, error) {
	return fileRule{}, errors.New("files rules set Unix modes, owners and groups, which Windows does not have: " +
		"a file deployed there takes its access from the ACLs of the deploy target (deploy the release to a Unix host, or without files rules)")
}
