// Package writeback asks the kernel to start writing a file's new data to
// the disk early, without waiting for it: the fsync or syncfs that makes
// the data durable later then has little left to wait for, and the disk
// works while the program computes. It is a hint: it never fails, and does
// nothing where the system has no such call.
package writeback

// Start asks for n bytes of the file open as fd, from off (n = 0: to the
// end), to be written out.
func Start(fd uintptr, off, n int64) { start(fd, off, n) }
