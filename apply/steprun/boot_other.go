//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package steprun

// bootID is "" where this package cannot tell one boot from another (and
// on Windows, where a step's processes die with the applier): StopSurvivors
// then stops nothing.
func bootID() string { return "" }
