package receipt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Inventory (format version 3) is what a host holds after an apply and
// can reuse for a later one, as content digests only: every file of the
// releases its content store keeps, as shipped (before substitution: the
// manifest's digest), and the chunks of its large files. The objects are
// listed beside the receipt (InventoryName), one "<sha256> <size>" line
// each, sorted by digest without duplicates; the receipt records the
// list's name, its digest, how many objects it names and their bytes, so
// a receipt stays small while the list is covered by its signature. A
// builder given the receipt leaves out of a delta bundle what the list
// names (see doc/design.md, "Delta bundles").
type Inventory struct {
	List    string `json:"list"`   // file name beside the receipt
	SHA256  string `json:"sha256"` // of the list's bytes
	Objects int    `json:"objects"`
	Bytes   int64  `json:"bytes"`
}

// Delta (format version 3) records that the bundle applied was a delta:
// the receipts whose inventories it named as its base (their statement
// digests), and how many of its objects and bytes came from the host's
// content store rather than from the payload.
type Delta struct {
	Base        []string `json:"base"`
	BaseObjects int      `json:"baseObjects"`
	BaseBytes   int64    `json:"baseBytes"`
}

// Object is one entry of an inventory: a content digest and its size.
type Object struct {
	SHA256 [sha256.Size]byte
	Size   int64
}

// Hex is the object's digest in hex.
func (o Object) Hex() string { return hex.EncodeToString(o.SHA256[:]) }

// SortObjects sorts objects by digest, the order of an inventory list.
func SortObjects(objs []Object) {
	slices.SortFunc(objs, func(a, b Object) int { return bytes.Compare(a.SHA256[:], b.SHA256[:]) })
}

const inventorySuffix = ".inventory"

// InventoryName is the name of the inventory list beside a receipt.
func InventoryName(receiptFile string) string {
	return strings.TrimSuffix(receiptFile, fileSuffix) + inventorySuffix
}

// MaxInventoryObjects caps the objects an inventory list may name when it
// is read (about 40 TiB of 64 KiB chunks, 80 bytes a line: 50 GiB of list).
// Lists are read streaming, so this bounds the work, not the memory.
const MaxInventoryObjects = 1 << 29

// WriteInventory writes objs, which must be sorted by digest without
// duplicates, as an inventory list to w, and returns the Inventory that
// records it under name.
func WriteInventory(w io.Writer, name string, objs []Object) (*Inventory, error) {
	h := sha256.New()
	bw := bufio.NewWriter(io.MultiWriter(w, h))
	inv := &Inventory{List: name}
	for i, o := range objs {
		if i > 0 && bytes.Compare(objs[i-1].SHA256[:], o.SHA256[:]) >= 0 {
			return nil, errors.New("inventory: objects not sorted by digest, or a duplicate")
		}
		if o.Size < 0 {
			return nil, errors.New("inventory: a negative size")
		}
		bw.WriteString(o.Hex())
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatInt(o.Size, 10))
		bw.WriteByte('\n')
		inv.Objects++
		inv.Bytes += o.Size
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	inv.SHA256 = hex.EncodeToString(h.Sum(nil))
	return inv, nil
}

// ReadInventory reads an inventory list from r, calling fn with each
// object in order, and checks it against inv: its digest, its count and
// its bytes, the order of its lines and their form. A list that does not
// match what the signed receipt says is an error, found at its end (fn
// has then seen objects of a list that is not the one signed: callers
// discard what they gathered on error).
func ReadInventory(r io.Reader, inv *Inventory, fn func(Object) error) error {
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 64<<10)
	var prev Object
	var n int
	var total int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("inventory line %d: not \"<sha256> <size>\"", n+1)
			}
			return err
		}
		o, ok := parseInventoryLine(line[:len(line)-1])
		if !ok {
			return fmt.Errorf("inventory line %d: not \"<sha256> <size>\"", n+1)
		}
		if n > 0 && bytes.Compare(prev.SHA256[:], o.SHA256[:]) >= 0 {
			return fmt.Errorf("inventory line %d: not sorted by digest, or a duplicate", n+1)
		}
		if n++; n > MaxInventoryObjects {
			return fmt.Errorf("inventory: more than %d objects", MaxInventoryObjects)
		}
		total += o.Size
		prev = o
		if err := fn(o); err != nil {
			return err
		}
	}
	switch sum := hex.EncodeToString(h.Sum(nil)); {
	case sum != inv.SHA256:
		return fmt.Errorf("inventory %s: sha256 %s, but the receipt says %s", inv.List, sum, inv.SHA256)
	case n != inv.Objects || total != inv.Bytes:
		return fmt.Errorf("inventory %s: %d objects of %d bytes, but the receipt says %d of %d", inv.List, n, total, inv.Objects, inv.Bytes)
	}
	return nil
}

func parseInventoryLine(line []byte) (Object, bool) {
	var o Object
	sum, size, ok := bytes.Cut(line, []byte{' '})
	if !ok || !isHexSHA256(string(sum)) || len(size) == 0 || len(size) > 15 || (size[0] == '0' && len(size) > 1) {
		return o, false
	}
	n, err := strconv.ParseInt(string(size), 10, 64)
	if err != nil || n < 0 {
		return o, false
	}
	hex.Decode(o.SHA256[:], sum)
	o.Size = n
	return o, true
}

// validate checks the inventory and delta records of a receipt.
func (p *Predicate) validateInventory() error {
	if inv := p.Inventory; inv != nil {
		switch {
		case !isHexSHA256(inv.SHA256):
			return errors.New("inventory: sha256 is not a SHA-256 hex digest")
		case inv.List == "" || strings.ContainsAny(inv.List, `/\`) || !strings.HasSuffix(inv.List, inventorySuffix):
			return fmt.Errorf("inventory: list %q is not a file name ending in %s", inv.List, inventorySuffix)
		case inv.Objects < 0 || inv.Bytes < 0:
			return errors.New("inventory: a negative count")
		}
	}
	if d := p.Delta; d != nil {
		if len(d.Base) == 0 {
			return errors.New("delta: no base")
		}
		for _, b := range d.Base {
			if !isHexSHA256(b) {
				return fmt.Errorf("delta: base %q is not a SHA-256 hex digest", b)
			}
		}
		if d.BaseObjects < 0 || d.BaseBytes < 0 {
			return errors.New("delta: a negative count")
		}
	}
	return nil
}
