//go:build !linux

package steprun

import "time"

// Containment holds the processes of an apply's steps (see [Contain]):
// here, only the mark they carry.
type Containment struct {
	marker, mechanism string
}

func (c *Containment) contain() {}

func (c *Containment) running() []Process { return nil }

func (c *Containment) stopAll(time.Duration) (int, error) { return 0, nil }
