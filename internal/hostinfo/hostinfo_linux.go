package hostinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// unsetLoginUID is the kernel's "no login uid" ((uid_t)-1).
const unsetLoginUID = "4294967295"

func loginUID() (string, bool) {
	b, err := os.ReadFile("/proc/self/loginuid")
	if err != nil {
		return "", false
	}
	s := strings.TrimSpace(string(b))
	if s == "" || s == unsetLoginUID {
		return "", false
	}
	if _, err := strconv.ParseUint(s, 10, 32); err != nil {
		return "", false
	}
	return s, true
}

func terminal() string {
	for fd := range 3 {
		if !term.IsTerminal(fd) {
			continue
		}
		if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd)); err == nil && strings.HasPrefix(p, "/dev/") {
			return p
		}
	}
	return ""
}

// ReadClock reads the kernel's clock state with adjtimex(2) (read only)
// and looks for a running time service. ok is false when the kernel does
// not answer.
func ReadClock() (Clock, bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return Clock{}, false
	}
	c := Clock{
		Synchronised:         state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		EstimatedErrorMicros: int64(tx.Esterror),
		MaxErrorMicros:       int64(tx.Maxerror),
		Method:               "adjtimex",
		Service:              timeService(),
	}
	return c, true
}

// timeServices are the process names (as /proc/<pid>/comm shows them, cut
// to 15 bytes) of programs that discipline the clock.
var timeServices = []string{"chronyd", "systemd-timesyn", "ntpd", "openntpd", "timemaster", "ptp4l", "phc2sys", "ntpsec"}

// timeService names a time service found running: systemd-timesyncd's
// state file, else the first known process name among /proc's processes
// (only those this process can see: a container sees its own).
func timeService() string {
	if _, err := os.Stat("/run/systemd/timesync/synchronized"); err == nil {
		return "systemd-timesyncd"
	}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range comms {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(b))
		for _, s := range timeServices {
			if name == s {
				if s == "systemd-timesyn" {
					return "systemd-timesyncd"
				}
				return s
			}
		}
	}
	return ""
}
