package apply

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"airlock.dev/airlock/internal/atomicfile"
	"airlock.dev/airlock/internal/capped"
)

// The file digest key. A deployed file into which a sensitive value went
// is not recorded by its SHA-256 anywhere that leaves the host — receipt,
// file list, subjects —: a short secret in a small file could be confirmed
// offline by hashing guesses. It is recorded by an HMAC-SHA-256 keyed with
// this key instead, which only the host holds: the host can tell whether
// the file still matches (status), nobody else can test a guess.
//
//	state/file-digest.key            the key in use: 32 random bytes, 0600, made by the first apply that needs it
//	state/file-digest-keys/<any>     keys taken out of use (rotation), still read to check older receipts
//
// The key is never printed and never in a receipt: a receipt names it by
// its id (fileKeyID), which reveals nothing of it. To rotate it, move
// file-digest.key into file-digest-keys/ between applies: the next apply
// that needs a key makes a new one. Removing a retired key leaves the
// files its receipts recorded unchecked (status says so).
const (
	fileKeyName     = "file-digest.key"
	retiredKeysDir  = "file-digest-keys"
	fileKeySize     = 32
	fileKeyIDPrefix = "airlock file digest key id"
)

// fileKey is a file digest key and its id.
type fileKey struct {
	id  string
	key []byte
}

func newFileKey(key []byte) *fileKey {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, fileKeyIDPrefix)
	return &fileKey{id: hex.EncodeToString(m.Sum(nil))[:16], key: key}
}

// sum is the keyed digest of a file's content.
func (k *fileKey) sum(data []byte) string {
	m := hmac.New(sha256.New, k.key)
	m.Write(data)
	return hex.EncodeToString(m.Sum(nil))
}

// readFileKey reads a key file: exactly fileKeySize bytes, a regular file.
func readFileKey(path string) (*fileKey, error) {
	key, err := capped.ReadFile(path, fileKeySize)
	if err != nil {
		return nil, err
	}
	if len(key) != fileKeySize {
		return nil, fmt.Errorf("%s: %d bytes, a file digest key is %d", path, len(key), fileKeySize)
	}
	return newFileKey(key), nil
}

// fileKey returns the state directory's file digest key, made (once, as a
// complete file or none) if there is none yet.
func (s *state) fileKey() (*fileKey, error) {
	p := filepath.Join(s.dir, fileKeyName)
	k, err := readFileKey(p)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	key := make([]byte, fileKeySize)
	rand.Read(key)
	err = s.writing(func() error { return atomicfile.WriteNoReplace(p, key, 0o600) })
	if errors.Is(err, atomicfile.ErrExists) {
		return readFileKey(p)
	}
	if err != nil {
		return nil, fmt.Errorf("make the file digest key: %w", err)
	}
	return newFileKey(key), nil
}

// fileKeys reads every file digest key of a state directory, the one in
// use and the retired ones, by id. A key that does not read is skipped:
// the files it recorded are reported unchecked.
func fileKeys(stateDir string) map[string]*fileKey {
	out := map[string]*fileKey{}
	paths := []string{filepath.Join(stateDir, fileKeyName)}
	ents, _ := os.ReadDir(filepath.Join(stateDir, retiredKeysDir))
	for _, e := range ents {
		paths = append(paths, filepath.Join(stateDir, retiredKeysDir, e.Name()))
	}
	for _, p := range paths {
		if k, err := readFileKey(p); err == nil {
			out[k.id] = k
		}
	}
	return out
}
