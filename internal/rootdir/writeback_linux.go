package rootdir

import "golang.org/x/sys/unix"

// StartWriteback asks the kernel to start writing n bytes at off (n = 0:
// to the end of the file) to the disk, without waiting: a later fsync or
// syncfs then has less left to wait for. It never fails (it is a hint).
func (f *File) StartWriteback(off, n int64) {
	unix.SyncFileRange(f.fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}
