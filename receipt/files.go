package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"airlock.dev/airlock/internal/capped"
)

// Names of a receipt and of the files written beside it. A zone's receipts
// are receipt-<zone>-<seq>.dsse.json with seq in 10 digits, so that file
// names sort in chain order; nothing but the hash chain is evidence of
// order, though.
const (
	fileSuffix      = ".dsse.json"
	filesListSuffix = ".files"
	logSuffix       = ".log.age"
)

// FileName is the file name of receipt seq of a zone.
func FileName(zone string, seq uint64) string {
	return fmt.Sprintf("receipt-%s-%010d%s", zone, seq, fileSuffix)
}

// SeqOf returns the sequence number in name if name is FileName(zone, seq).
func SeqOf(zone, name string) (uint64, bool) {
	n, ok := strings.CutPrefix(name, "receipt-"+zone+"-")
	if !ok {
		return 0, false
	}
	n, ok = strings.CutSuffix(n, fileSuffix)
	if !ok || len(n) != 10 {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil || FileName(zone, seq) != name {
		return 0, false
	}
	return seq, true
}

// FilesListName is the name of the deployed file list beside a receipt.
func FilesListName(receiptFile string) string {
	return strings.TrimSuffix(receiptFile, fileSuffix) + filesListSuffix
}

// LogName is the name of the age-encrypted step log beside a receipt.
func LogName(receiptFile string) string {
	return strings.TrimSuffix(receiptFile, fileSuffix) + logSuffix
}

// FilesList is the content of the deployed file list: one
// "<sha256>  <path>" line per file in the order given (sorted by path when
// written by the applier), the format of sha256sum(1).
func FilesList(files []File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	return b.Bytes()
}

// IsSideFile reports whether name is a file airlock writes beside a
// receipt: a deployed file list or an encrypted step log.
func IsSideFile(name string) bool {
	return strings.HasSuffix(name, filesListSuffix) || strings.HasSuffix(name, logSuffix)
}

// InChain reports whether name is a receipt of zone's chain or a file
// beside one.
func InChain(zone, name string) bool {
	for _, suffix := range []string{filesListSuffix, logSuffix} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			name = base + fileSuffix
			break
		}
	}
	_, ok := SeqOf(zone, name)
	return ok
}

// Head is the newest receipt of a zone's chain in a receipts folder.
type Head struct {
	Seq  uint64
	File string // its path
	// Link is the digest the next receipt names as prevSha256.
	Link string
	// Receipt is the head decoded, its signature NOT checked; nil when it
	// does not decode (Err says why), and Link is then the SHA-256 of its
	// bytes.
	Receipt *Receipt
	Err     error
}

// ReadHead returns the receipt with the highest sequence number among the
// files FileName names for zone in dir, or nil when there is none.
func ReadHead(dir, zone string) (*Head, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var last uint64
	for _, e := range ents {
		if seq, ok := SeqOf(zone, e.Name()); ok && seq > last {
			last = seq
		}
	}
	if last == 0 {
		return nil, nil
	}
	h := &Head{Seq: last, File: filepath.Join(dir, FileName(zone, last))}
	data, err := capped.ReadFile(h.File, MaxSize)
	if err != nil {
		return nil, err
	}
	if h.Receipt, h.Err = Parse(data); h.Err != nil {
		h.Receipt = nil
		sum := sha256.Sum256(data)
		h.Link = hex.EncodeToString(sum[:])
		return h, nil
	}
	h.Link = h.Receipt.SHA256
	return h, nil
}

// FileMode is the mode of receipts and the files beside them: readable by
// the zone's owner and group only (PCI DSS 10.3.1).
const FileMode = 0o640
