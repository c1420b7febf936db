//go:build !linux

package rootdir

// StartWriteback is a hint that does nothing on this system.
func (f *File) StartWriteback(off, n int64) {}
