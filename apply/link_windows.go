//go:build windows

package apply

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"golang.org/x/sys/windows"
)

// On Windows, <to>/current is a directory junction (an NTFS mount point
// reparse point) to <to>\releases\<name>, and a switch replaces the
// junction's target in place with FSCTL_SET_REPARSE_POINT: NTFS changes
// the reparse data of the one directory entry in a single logged metadata
// update, so a path lookup sees the old release or the new one, as rename
// gives on Unix. A symbolic link cannot be switched so: os.Rename
// (MoveFileEx with MOVEFILE_REPLACE_EXISTING) refuses to replace a
// directory, and a directory link is one; and creating a symbolic link
// needs the symlink privilege or Developer Mode, while a junction needs
// neither. A junction's target is an absolute path on a local volume: a
// deploy target on a network share cannot have one (the deploy step
// fails), and a deploy target moved elsewhere keeps pointing at the old
// place. See doc/design.md, "The release switch on Windows".

// ntPrefix starts the substitute name of a junction: an NT path.
const ntPrefix = `\??\`

// releaseLink returns <to>/current's target as releases/<name>: it must be
// a junction into <to>\releases, as pointCurrent makes it.
func releaseLink(to string, fi fs.FileInfo) (string, error) {
	p := filepath.Join(to, currentLink)
	target, err := readJunction(p)
	if err != nil {
		what := kind(fi)
		if fi.Mode()&fs.ModeSymlink != 0 {
			what = "symbolic link"
		}
		return "", fmt.Errorf("%s is not a junction made by airlock (it is a %s): refusing to replace it", p, what)
	}
	abs, err := filepath.Abs(to)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(abs, target)
	if err != nil || !strings.EqualFold(filepath.Dir(rel), releasesDir) {
		return target, nil // readCurrent refuses it: not releases/<name>
	}
	return releasesDir + "/" + filepath.Base(rel), nil
}

// pointCurrent makes <to>/current a junction to next (releases/<name>):
// the existing junction's target is replaced in place; a new one is made
// aside and renamed to current, which does not exist then.
func pointCurrent(to, next string) error {
	abs, err := filepath.Abs(to)
	if err != nil {
		return err
	}
	target := filepath.Join(abs, filepath.FromSlash(next))
	p := filepath.Join(abs, currentLink)
	if _, err := os.Lstat(p); err == nil {
		return setJunction(p, target, true)
	}
	tmp := filepath.Join(abs, ".current.tmp-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	if err := setJunction(tmp, target, false); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp) // the junction, not its target
		return err
	}
	return nil
}

// openReparsePoint opens path itself, not what it points to.
func openReparsePoint(path string, access uint32) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(name, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
}

// setJunction makes the directory dir a junction to target. With existing,
// dir must already be a junction (anything else is refused, not
// replaced); else it must be an empty directory.
func setJunction(dir, target string, existing bool) error {
	h, err := openReparsePoint(dir, windows.GENERIC_READ|windows.GENERIC_WRITE)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer windows.CloseHandle(h)
	if existing {
		if _, err := junctionTarget(h); err != nil {
			return fmt.Errorf("%s is not a junction made by airlock: refusing to replace it (%w)", dir, err)
		}
	}
	buf := mountPointBuffer(target)
	var n uint32
	if err := windows.DeviceIoControl(h, windows.FSCTL_SET_REPARSE_POINT, &buf[0], uint32(len(buf)), nil, 0, &n, nil); err != nil {
		return &os.PathError{Op: "set junction", Path: dir, Err: err}
	}
	return nil
}

// readJunction returns the target of the junction at path.
func readJunction(path string) (string, error) {
	h, err := openReparsePoint(path, windows.GENERIC_READ)
	if err != nil {
		return "", err
	}
	defer windows.CloseHandle(h)
	return junctionTarget(h)
}

// errNotJunction is a reparse point of another kind, or none.
var errNotJunction = errors.New("not a junction")

// junctionTarget reads the reparse data of h, which must be a mount point,
// and returns its target as a Windows path.
func junctionTarget(h windows.Handle) (string, error) {
	buf := make([]byte, windows.MAXIMUM_REPARSE_DATA_BUFFER_SIZE)
	var n uint32
	if err := windows.DeviceIoControl(h, windows.FSCTL_GET_REPARSE_POINT, nil, 0, &buf[0], uint32(len(buf)), &n, nil); err != nil {
		return "", err
	}
	return parseMountPoint(buf[:n])
}

// parseMountPoint returns the target of a mount point's reparse data.
func parseMountPoint(buf []byte) (string, error) {
	if len(buf) < 16 || binary.LittleEndian.Uint32(buf) != windows.IO_REPARSE_TAG_MOUNT_POINT {
		return "", errNotJunction
	}
	off, size := int(binary.LittleEndian.Uint16(buf[8:])), int(binary.LittleEndian.Uint16(buf[10:]))
	names := buf[16:]
	if off+size > len(names) || size%2 != 0 {
		return "", errNotJunction
	}
	u := make([]uint16, size/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(names[off+2*i:])
	}
	s, ok := strings.CutPrefix(string(utf16.Decode(u)), ntPrefix)
	if !ok {
		return "", errNotJunction
	}
	return s, nil
}

// mountPointBuffer is the REPARSE_DATA_BUFFER of a junction to target (an
// absolute path): the NT path as substitute name, the path as print name.
func mountPointBuffer(target string) []byte {
	subst := utf16.Encode([]rune(ntPrefix + target))
	printName := utf16.Encode([]rune(target))
	names := make([]byte, 0, 2*(len(subst)+len(printName)+2))
	for _, s := range [][]uint16{subst, printName} {
		for _, c := range s {
			names = binary.LittleEndian.AppendUint16(names, c)
		}
		names = binary.LittleEndian.AppendUint16(names, 0)
	}
	buf := binary.LittleEndian.AppendUint32(nil, windows.IO_REPARSE_TAG_MOUNT_POINT)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(8+len(names))) // ReparseDataLength
	buf = binary.LittleEndian.AppendUint16(buf, 0)                    // Reserved
	buf = binary.LittleEndian.AppendUint16(buf, 0)                    // SubstituteNameOffset
	buf = binary.LittleEndian.AppendUint16(buf, uint16(2*len(subst)))
	buf = binary.LittleEndian.AppendUint16(buf, uint16(2*len(subst)+2)) // PrintNameOffset
	buf = binary.LittleEndian.AppendUint16(buf, uint16(2*len(printName)))
	return append(buf, names...)
}
