// Package uuid makes RFC 9562 version 7 UUIDs: time-ordered (milliseconds)
// with 74 random bits, so bundle and receipt IDs sort by creation time.
package uuid

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewV7 returns a UUIDv7 for time t in the canonical 8-4-4-4-12 form.
func NewV7(t time.Time) string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
