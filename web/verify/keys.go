package verify

import (
	"crypto/ecdsa"
	"os"
	"sync"
	"time"

	"github.com/lgwan/issuance/pki"
)

// PublishedKeys are the published code keys of a file (seal.code_keys),
// re-read when the file changes: a key published for a rotation (which the
// server's SIGHUP puts in use) verifies here without a restart. A file that
// no longer reads leaves the keys as they were.
type PublishedKeys struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	keys *pki.CodeKeys
}

// LoadPublishedKeys reads the bundle at path.
func LoadPublishedKeys(path string) (*PublishedKeys, error) {
	k := &PublishedKeys{path: path}
	if err := k.refresh(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *PublishedKeys) refresh() error {
	fi, err := os.Stat(k.path)
	if err != nil {
		return err
	}
	if k.keys != nil && fi.ModTime().Equal(k.mod) && fi.Size() == k.size {
		return nil
	}
	keys, err := pki.LoadCodeKeys(k.path)
	if err != nil {
		return err
	}
	k.keys, k.mod, k.size = keys, fi.ModTime(), fi.Size()
	return nil
}

// CodeKey is backside.Keys.
func (k *PublishedKeys) CodeKey(keyID string) (*ecdsa.PublicKey, string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh() // on error, the keys read last
	return k.keys.CodeKey(keyID)
}
