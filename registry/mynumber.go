package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
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
//
// The same key file seals the answers kept for requestId replay (Replay),
// which hold certificates and, with them, 個人番号: under a subkey derived
// with HKDF, so that the two uses never share a key or its nonce budget.
//
// So do the facts of 本籍 applications and the clerks' TOTP seeds, each under
// a subkey of its own (honseki_seal.go).
type MyNumberKey struct {
	aead        cipher.AEAD // 個人番号
	replay      cipher.AEAD // stored answers
	application cipher.AEAD // 本籍 application facts and clerks' notes
	totp        cipher.AEAD // clerks' TOTP seeds
	birthMAC    []byte      // HMAC key of the status check (application number, birth date)
}

// sealedVersion prefixes every sealed value (format: version, nonce,
// ciphertext with tag), so that a later key or algorithm can be told apart.
const sealedVersion = 1

// NewMyNumberKey makes a key from 32 bytes.
func NewMyNumberKey(key []byte) (*MyNumberKey, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("個人番号 key: %d bytes, need 32 (AES-256)", len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	k := &MyNumberKey{aead: aead}
	for _, sub := range []struct {
		info string
		aead *cipher.AEAD
		raw  *[]byte
	}{
		{"issuance request_replay v1", &k.replay, nil},
		{"issuance honseki_application v1", &k.application, nil},
		{"issuance clerk totp v1", &k.totp, nil},
		{"issuance honseki birth_check v1", nil, &k.birthMAC},
	} {
		b, err := hkdf.Key(sha256.New, key, nil, sub.info, 32)
		if err != nil {
			return nil, err
		}
		if sub.raw != nil {
			*sub.raw = b
			continue
		}
		if *sub.aead, err = newGCM(b); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
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
	return seal(k.aead, []byte(number), myNumberAD(lgCode, personID))
}

// Open decrypts what Seal produced for the same row.
func (k *MyNumberKey) Open(lgCode, personID string, sealed []byte) (string, error) {
	b, err := open(k.aead, sealed, myNumberAD(lgCode, personID))
	if errors.Is(err, errSealedFormat) {
		return "", errors.New("個人番号: unknown sealed format")
	}
	if err != nil {
		return "", errors.New("個人番号: does not open with this key for this person")
	}
	return string(b), nil
}

var errSealedFormat = errors.New("unknown sealed format")

// seal encrypts plaintext bound to ad, in the sealed format: version, nonce,
// ciphertext with tag.
func seal(aead cipher.AEAD, plaintext, ad []byte) []byte {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return aead.Seal(out, out[1:], plaintext, ad)
}

// open decrypts what seal produced with the same ad.
func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealedVersion {
		return nil, errSealedFormat
	}
	return aead.Open(nil, sealed[1:1+n], sealed[1+n:], ad)
}
