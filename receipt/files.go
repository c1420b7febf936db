package receipt

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"airlock.dev/airlock/internal/names"
)

// Names of a receipt and of the files written beside it. A host's
// receipts are receipt-<zone>-<host>-<seq>.dsse.json with seq in 10
// digits, so that the receipts of every host of a zone can share one
// folder (the media carried out) without two ever having the same name,
// and a host's names sort in chain order; nothing but the hash chain is
// evidence of order, though. Receipts written before hosts were named
// (version 1 names) are receipt-<zone>-<seq>.dsse.json: they are read as
// they always were, and a chain continues from them under the new names.
const (
	fileSuffix      = ".dsse.json"
	filesListSuffix = ".files"
	logSuffix       = ".log.age"
	seqDigits       = 10
)

// FileName is the file name of receipt seq of host's chain in zone. An
// empty host gives the version 1 name, receipt-<zone>-<seq>.dsse.json.
func FileName(zone, host string, seq uint64) string {
	if host == "" {
		return fmt.Sprintf("receipt-%s-%0*d%s", zone, seqDigits, seq, fileSuffix)
	}
	return fmt.Sprintf("receipt-%s-%s-%0*d%s", zone, host, seqDigits, seq, fileSuffix)
}

// ParseFileName reads a receipt file name of zone: the host it names (""
// for a version 1 name) and the sequence number. ok is false for any other
// name, including a host that is not a valid name.
func ParseFileName(zone, name string) (host string, seq uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "receipt-"+zone+"-")
	if !ok {
		return "", 0, false
	}
	if rest, ok = strings.CutSuffix(rest, fileSuffix); !ok || len(rest) < seqDigits {
		return "", 0, false
	}
	digits := rest[len(rest)-seqDigits:]
	if len(rest) > seqDigits {
		var dash bool
		host, dash = strings.CutSuffix(rest[:len(rest)-seqDigits], "-")
		if !dash || !names.Valid(host) {
			return "", 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || FileName(zone, host, seq) != name {
		return "", 0, false
	}
	return host, seq, true
}

// FilesListName is the name of the deployed file list beside a receipt.
func FilesListName(receiptFile string) string {
	return strings.TrimSuffix(receiptFile, fileSuffix) + filesListSuffix
}

// LogName is the name of the age-encrypted step log beside a receipt.
func LogName(receiptFile string) string {
	return strings.TrimSuffix(receiptFile, fileSuffix) + logSuffix
}

// FilesList is the content of the deployed file list, one line per file
// in the order given (sorted by path when written by the applier): for a
// file recorded by its digest, "<sha256>  <path>", the format of
// sha256sum(1); for one holding a secret (format version 3),
// "HMAC-SHA256 key=<id> template=<sha256> (<path>) = <hmac>", a line in
// the tagged form of sha256sum --tag that `sha256sum -c` reports as
// improperly formatted and skips (it fails it only with --strict).
func FilesList(files []File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		if f.Keyed() {
			fmt.Fprintf(&b, "%s key=%s template=%s (%s) = %s\n", listHMACTag, f.HMACKey, f.TemplateSHA256, f.Path, f.HMACSHA256)
			continue
		}
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	return b.Bytes()
}

const listHMACTag = "HMAC-SHA256"

// ParseFilesList reads a deployed file list as FilesList writes it: the
// path and digests of each file (no modes or owners, which only the
// receipt records). A line of another form is an error naming it.
func ParseFilesList(data []byte) ([]File, error) {
	var out []File
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" && len(data) == 0 {
			break
		}
		f, ok := parseListLine(line)
		if !ok {
			return nil, fmt.Errorf("line %d: neither \"<sha256>  <path>\" nor %q", n+1, listHMACTag+" key=… template=… (<path>) = <hmac>")
		}
		out = append(out, f)
	}
	return out, nil
}

func parseListLine(line string) (File, bool) {
	if rest, ok := strings.CutPrefix(line, listHMACTag+" key="); ok {
		id, rest, ok1 := strings.Cut(rest, " template=")
		tmpl, rest, ok2 := strings.Cut(rest, " (")
		i := strings.LastIndex(rest, ") = ")
		if !ok1 || !ok2 || i < 0 || id == "" {
			return File{}, false
		}
		f := File{Path: rest[:i], HMACKey: id, TemplateSHA256: tmpl, HMACSHA256: rest[i+len(") = "):]}
		return f, f.validate() == nil && f.Path != ""
	}
	sum, path, ok := strings.Cut(line, "  ")
	if !ok || !isHexSHA256(sum) || path == "" {
		return File{}, false
	}
	return File{Path: path, SHA256: sum}, true
}

// IsSideFile reports whether name is a file airlock writes beside a
// receipt: a deployed file list or an encrypted step log.
func IsSideFile(name string) bool {
	return strings.HasSuffix(name, filesListSuffix) || strings.HasSuffix(name, logSuffix) || strings.HasSuffix(name, inventorySuffix)
}

// InChain reports whether name is a receipt of zone, of any host, or a
// file beside one. A state directory holds one host's chain, whose host
// name may have changed along it (a committed host-changed policy).
func InChain(zone, name string) bool {
	for _, suffix := range []string{filesListSuffix, logSuffix, inventorySuffix} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			name = base + fileSuffix
			break
		}
	}
	_, _, ok := ParseFileName(zone, name)
	return ok
}

// ChainFile is a receipt file of a zone's chain in a folder.
type ChainFile struct {
	Name string
	Host string // "" for a version 1 name
	Seq  uint64
}

// ChainFiles lists the receipt files of zone in dir (of any host), by
// sequence number and then name. Two files may claim one seq; callers
// decide what that means.
func ChainFiles(dir, zone string) ([]ChainFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []ChainFile
	for _, e := range ents {
		if host, seq, ok := ParseFileName(zone, e.Name()); ok {
			out = append(out, ChainFile{Name: e.Name(), Host: host, Seq: seq})
		}
	}
	slices.SortFunc(out, func(a, b ChainFile) int { return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Name, b.Name)) })
	return out, nil
}

// HeadFile is the receipt file of zone in dir with the highest sequence
// number, or nil when there is none; two files claiming that number are an
// error (the chain cannot go on from either).
func HeadFile(dir, zone string) (*ChainFile, error) {
	files, err := ChainFiles(dir, zone)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	n := len(files)
	if n > 1 && files[n-2].Seq == files[n-1].Seq {
		return nil, fmt.Errorf("%s: two receipts claim seq %d of zone %s (%s and %s)", dir, files[n-1].Seq, zone, files[n-2].Name, files[n-1].Name)
	}
	return &files[n-1], nil
}

// FileMode is the mode of receipts and the files beside them: readable by
// the zone's owner and group only (PCI DSS 10.3.1).
const FileMode = 0o640
