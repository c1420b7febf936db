package bundle

import (
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxPathLen bounds a payload path.
const MaxPathLen = 1024

// CheckPath reports whether p is an acceptable payload path: relative,
// slash-separated, clean, and portable to every file system airlock
// deploys to (Linux, macOS, Windows). The same rule is applied when a
// bundle is built and, to hostile input, when it is applied.
func CheckPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > MaxPathLen:
		return fmt.Errorf("path longer than %d bytes", MaxPathLen)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not valid UTF-8", p)
	case !norm.NFC.IsNormalString(p):
		return fmt.Errorf("path %q is not in Unicode normal form C", p)
	case p[0] == '/':
		return fmt.Errorf("path %q is absolute", p)
	}
	for rest, more := p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("path %q: %w", p, err)
		}
	}
	return nil
}

func checkSegment(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty path element")
	case s == "." || s == "..":
		return fmt.Errorf("element %q not allowed", s)
	case len(s) > 255:
		return fmt.Errorf("element longer than 255 bytes")
	case strings.HasSuffix(s, ".") || strings.HasSuffix(s, " "):
		return fmt.Errorf("element %q ends in a dot or space (not portable to Windows)", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character in element %q", s)
		}
		if strings.ContainsRune(`\:<>"|?*`, r) {
			return fmt.Errorf("character %q not allowed (not portable)", r)
		}
	}
	if isReservedWindowsName(s) {
		return fmt.Errorf("element %q is a reserved device name on Windows", s)
	}
	return nil
}

func isReservedWindowsName(s string) bool {
	base := s
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	base = strings.TrimRight(base, " ")
	// The longest reserved name is 7 bytes; one character of a longer
	// spelling may upper-case to a shorter one (dotless ı to I). Anything
	// longer is not one, and need not be upper-cased (most names).
	if len(base) > 8 {
		return false
	}
	base = strings.ToUpper(base)
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		c := base[3]
		return c >= '0' && c <= '9'
	}
	return false
}

// foldKey is the key under which two paths collide on a case-insensitive,
// normalising file system.
func foldKey(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] >= utf8.RuneSelf {
			return cases.Fold().String(norm.NFC.String(p))
		}
	}
	// ASCII (most paths): NFC leaves it as it is, and folding is lower-casing.
	return strings.ToLower(p)
}

// FileKind names a file type other than a regular file or directory, for
// messages: symbolic link, named pipe, socket, device or special file.
func FileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
