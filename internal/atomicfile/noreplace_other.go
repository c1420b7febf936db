//go:build !linux && !darwin && !windows

package atomicfile

func renameNoReplace(string, string) error { return errUnsupported }
