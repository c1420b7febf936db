package receipt

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
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
