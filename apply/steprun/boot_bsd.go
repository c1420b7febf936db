//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package steprun

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// bootID is the time the system booted.
func bootID() string {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return ""
	}
	return fmt.Sprintf("boottime %d.%06d", tv.Sec, tv.Usec)
}
