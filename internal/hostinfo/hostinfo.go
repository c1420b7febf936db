// Package hostinfo reads what a receipt records about the machine and the
// person at it: the OS account and what the system knows of who is behind
// it (sudo, the kernel's login uid, the terminal), the clock's
// synchronisation state, and the digest of the running program.
package hostinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/user"
	"strconv"
	"sync"
)

// Identity is who runs the program, as the system sees it.
type Identity struct {
	User string // OS account name ("unknown" when it cannot be looked up)
	UID  string // OS user id (SID on Windows)
	// SudoUser and SudoUID are the account that ran sudo, when sudo set them.
	SudoUser string
	SudoUID  string
	// LoginUID is the kernel's login uid (Linux audit): the account that
	// logged in, which su and sudo do not change. LoginUser is its name.
	LoginUID  string
	LoginUser string
	// Terminal is the controlling terminal (/dev/pts/3), if any.
	Terminal string
}

// CurrentIdentity reads the identity of this process.
func CurrentIdentity() Identity {
	id := Identity{User: "unknown", UID: strconv.Itoa(os.Getuid())}
	if u, err := user.Current(); err == nil {
		id.User, id.UID = u.Username, u.Uid
	}
	if s := os.Getenv("SUDO_USER"); s != "" {
		id.SudoUser, id.SudoUID = s, os.Getenv("SUDO_UID")
	}
	if uid, ok := loginUID(); ok {
		id.LoginUID = uid
		if u, err := user.LookupId(uid); err == nil {
			id.LoginUser = u.Username
		}
	}
	id.Terminal = terminal()
	return id
}

// Clock is the clock synchronisation state.
type Clock struct {
	Synchronised         bool
	EstimatedErrorMicros int64
	MaxErrorMicros       int64
	Service              string // a time service found running, or ""
	Method               string // how the state was read
}

// ExecutableSHA256 is the hex SHA-256 of the running program, or "" when it
// cannot be read. The program does not change while it runs, so it is
// hashed once per process (every receipt records it).
func ExecutableSHA256() string { return executableSHA256() }

var executableSHA256 = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})
