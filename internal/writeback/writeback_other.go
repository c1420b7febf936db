//go:build !linux

package writeback

func start(fd uintptr, off, n int64) {}
