//go:build !linux

package hostinfo

import "os"

func loginUID() (string, bool) { return "", false }

func terminal() string { return os.Getenv("SSH_TTY") }

// ReadClock is not available on this system: ok is false.
func ReadClock() (Clock, bool) { return Clock{}, false }
