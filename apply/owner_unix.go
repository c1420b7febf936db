//go:build unix

package apply

import (
	"fmt"
	"os/user"
	"strconv"

	"airlock.dev/airlock/bundle"
)

// lookupRule looks up the owner and group a files: rule names: a name
// in the system's user and group databases, or a numeric id as it is.
func lookupRule(r bundle.FileRule) (fileRule, error) {
	fr := fileRule{FileRule: r, uid: -1, gid: -1}
	var err error
	if r.Owner != "" {
		if fr.uid, err = lookupID(r.Owner, "owner", func(name string) (string, error) {
			u, err := user.Lookup(name)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		}); err != nil {
			return fr, err
		}
	}
	if r.Group != "" {
		if fr.gid, err = lookupID(r.Group, "group", func(name string) (string, error) {
			g, err := user.LookupGroup(name)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		}); err != nil {
			return fr, err
		}
	}
	return fr, nil
}

// maxID is the largest user or group id: (uid_t)-1 means "unchanged".
const maxID = 1<<32 - 2

func lookupID(name, what string, lookup func(string) (string, error)) (int, error) {
	id, err := strconv.ParseUint(name, 10, 64)
	if err != nil {
		s, lerr := lookup(name)
		if lerr != nil {
			return -1, fmt.Errorf("%s %s: %w", what, name, lerr)
		}
		if id, err = strconv.ParseUint(s, 10, 64); err != nil {
			return -1, fmt.Errorf("%s %s: id %q is not a number", what, name, s)
		}
	}
	if id > maxID {
		return -1, fmt.Errorf("%s %s: id out of range", what, name)
	}
	return int(id), nil
}
