package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MyNumberKey seals 個人番号 (特定個人情報) at rest with AES-256-GCM. The key
// lives in a file outside the repository and the database; the associated
// data binds each sealed number to its municipality and person, so a sealed
// value copied onto another row does not open.
type MyNumberKey struct {
	aead cipher.AEAD
}

// sealedVersion prefixes every sealed value (format: version, nonce,
// ciphertext with tag), so that a later key or algorithm can be told apart.
const sealedVersion = 1

// NewMyNumberKey makes a key from 32 bytes.
func NewMyNumberKey(key []byte) (*MyNumberKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("個人番号 key: %d bytes, need 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &MyNumberKey{aead: aead}, nil
}

// LoadMyNumberKey reads a key file: 64 hexadecimal digits. The file must not
// be readable by group or others.
func LoadMyNumberKey(path string) (*MyNumberKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("個人番号 key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("個人番号 key %s: readable by group or others (mode %v); chmod 600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("個人番号 key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("個人番号 key %s: not hexadecimal", path)
	}
	return NewMyNumberKey(key)
}

// GenerateMyNumberKey writes a new random key file (mode 0600); it refuses
// to overwrite one.
func GenerateMyNumberKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func myNumberAD(lgCode, personID string) []byte {
	return []byte("my_number\x00" + lgCode + "\x00" + personID)
}

// Seal encrypts a 個人番号 for one person's row.
func (k *MyNumberKey) Seal(lgCode, personID, number string) []byte {
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(number)+k.aead.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return k.aead.Seal(out, out[1:], []byte(number), myNumberAD(lgCode, personID))
}

// Open decrypts what Seal produced for the same row.
func (k *MyNumberKey) Open(lgCode, personID string, sealed []byte) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealedVersion {
		return "", errors.New("個人番号: unknown sealed format")
	}
	b, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], myNumberAD(lgCode, personID))
	if err != nil {
		return "", errors.New("個人番号: does not open with this key for this person")
	}
	return string(b), nil
}
